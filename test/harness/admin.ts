/** Credentials of the administrator every test stack creates (reset: false keeps the anonymous role as is). */
export const ADMIN = { username: 'kpc-admin', password: 'kpc-admin-password' };

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Creates the first administrator if the (possibly shared) Elasticsearch has
 * none yet, then logs in: the cluster's status and reset routes refuse
 * anonymous users.
 */
export async function adminToken(nodeUrl: string): Promise<string> {
  const created = await post(`${nodeUrl}/_createFirstAdmin/${ADMIN.username}`, {
    content: {},
    credentials: { local: { username: ADMIN.username, password: ADMIN.password } },
  });
  if (created.status !== 200 && !/already exists|admin user/i.test(JSON.stringify(created.body))) {
    throw new Error(`could not create the test administrator: ${JSON.stringify(created.body)}`);
  }
  const login = await post(`${nodeUrl}/_login/local`, ADMIN);
  const jwt = (login.body.result as { jwt?: unknown } | undefined)?.jwt;
  if (typeof jwt !== 'string') throw new Error(`could not log the test administrator in: ${JSON.stringify(login.body)}`);
  return jwt;
}
