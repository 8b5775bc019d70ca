import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { kuzzleRoot } from '../harness/kuzzle-node';
import { clusterPrefix, StateKeys } from '../../src/state/keys';
import { waitFor } from '../harness/wait';
import { ensureCollection, fixtureAction as fixture, httpClient, portOf, Recorder, uniqueName, useFixturePlugin, useStack, wsClient } from './support/fixture';

useFixturePlugin();

// admin:dump runs gcore on the whole process; `true` makes that a no-op
// (Kuzzle reads kuzzle_* variables as configuration; the nodes inherit ours).
process.env.kuzzle_dump__gcore = 'true';

const getStack = useStack();

/** Every password and TLS key found in a configuration tree. */
function findSecrets(tree: unknown): string[] {
  if (typeof tree !== 'object' || tree === null) return [];
  return Object.entries(tree).flatMap(([key, value]) =>
    ['password', 'secretKey', 'key', 'passphrase'].includes(key) && typeof value === 'string' ? [value] : findSecrets(value),
  );
}

/** Resolves with the error a call rejects with, or undefined when it succeeds. */
async function failure(call: Promise<unknown>): Promise<Error | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

describe('Kuzzle state kept in step across nodes', () => {
  const index = uniqueName('kpc-ks');
  const clients: Kuzzle[] = [];
  const node = (n: number): Kuzzle => {
    const client = clients[n - 1];
    if (!client) throw new Error(`no client for node ${n}`);
    return client;
  };

  // A runtime strategy of the fixture plugin, added on node 1: the security
  // and token tests log their users in with it (any kuid, one password).
  const strategy = uniqueName('kpc-strat');
  const stratUser = uniqueName('kpc-strat-user');

  /** A new user logged in (fixture strategy) through a new WebSocket client of node 2, and `collection` ready. */
  const userOnNode2 = async (collection: string, expiresIn?: string): Promise<{ user: string; subscriber: Kuzzle; jwt: string }> => {
    await ensureCollection(node(1), index, collection);
    const user = uniqueName(`kpc-${collection}`);
    await node(1).security.createUser(user, { content: { profileIds: ['default'] } }, { refresh: 'wait_for' });
    const subscriber = await wsClient(portOf(getStack(), 2));
    const jwt = await waitFor('login on node 2', () => subscriber.auth.login(strategy, { username: user, password: 'open-sesame' }, expiresIn));
    return { user, subscriber, jwt };
  };

  before(async () => {
    const stack = getStack();
    for (let n = 1; n <= 3; n++) clients.push(await wsClient(portOf(stack, n)));
    await fixture(node(1), 'addStrategy', { name: strategy });
  });

  it('start-up: each node logs the integration it uses for this Kuzzle release, and caught up without error', () => {
    // Which Kuzzle the nodes run: the repository's, or a release of the Kuzzle-versions tier.
    const version = (JSON.parse(readFileSync(join(kuzzleRoot, 'package.json'), 'utf8')) as { version: string }).version;
    for (let n = 1; n <= 3; n++) {
      const log = readFileSync(getStack().node(n).logFile, 'utf8');
      assert.equal(log.match(new RegExp(`kuzzle ${version.replace(/\./g, '\\.')}: using `, 'g'))?.length, 1, `node ${n} logs its integration once`);
      // A catch-up step failing at start (e.g. an ask this release lacks) is retried and logged forever.
      assert.doesNotMatch(log, /could not catch up/, `node ${n} caught up`);
      // Koncorde's minimiser of this Kuzzle found and guarded (see src/plugin/espresso-close-guard.ts).
      assert.match(log, /Koncorde's filter minimiser guarded against its late close/, `node ${n} guards its filter minimiser`);
    }
  });

  it('server:getConfig shows none of the secrets the cluster uses (CURVE secret key, Redis passwords and TLS keys), and Kuzzle\'s own configuration is left whole', async () => {
    const stack = getStack();
    const rc = JSON.parse(readFileSync(join(stack.runDir, 'kuzzle-1.kuzzlerc.json'), 'utf8')) as Record<string, unknown>;
    // What the node was given, wherever this run puts it (.kuzzlerc here; the plugin's own Redis Cluster with a password in the redis tier).
    const secrets = [stack.curveKeys?.secretKey, ...findSecrets(rc)].filter((value): value is string => typeof value === 'string' && value.length > 0);
    assert.ok(secrets.length > 0, 'this stack holds at least the CURVE secret key');
    for (let n = 1; n <= 3; n++) {
      const config = await node(n).server.getConfig({});
      const text = JSON.stringify(config);
      for (const secret of secrets) assert.equal(text.includes(secret), false, `node ${n} shows a secret`);
      assert.equal((config as { plugins?: { cluster?: { curve?: { secretKey?: string } } } }).plugins?.cluster?.curve?.secretKey, '[hidden by the cluster plugin]');
    }
    // Twice: the first answer did not remove the secret from Kuzzle's own object, which the node still uses.
    assert.equal(JSON.stringify(await node(1).server.getConfig({})).includes(secrets[0] ?? '?'), false);
    assert.equal((await stack.clusterStatus<{ members: number }>(1)).members, 3);
  });

  it('index cache: an index and collection created on node 1 are usable at once on nodes 2 and 3, and forgotten when deleted', async () => {
    const own = `${index}-cache`;
    await node(1).index.create(own);
    await node(1).collection.create(own, 'c1', {});
    // The very next request on nodes 2 and 3 knows the new index and collection.
    for (const n of [2, 3]) {
      assert.ok((await node(n).index.list()).includes(own), `node ${n} lists ${own}`);
      assert.ok(await node(n).document.create(own, 'c1', { n }), `node ${n} accepts documents in ${own}/c1`);
    }
    // Another collection, then deleted (in 2.10.4 collection:update refuses an unknown collection):
    // each action answers once every peer updated its cache, so the very next request sees it.
    await node(1).collection.create(own, 'c2', { properties: { n: { type: 'integer' } } });
    assert.ok(await node(3).document.create(own, 'c2', { n: 1 }), 'node 3 accepts documents in c2 at once');
    await node(1).collection.delete(own, 'c2');
    assert.match((await failure(node(2).document.create(own, 'c2', { n: 2 })))?.message ?? 'accepted', /collection/i, 'node 2 refuses documents in the deleted c2 at once');
    await node(1).index.delete(own);
    for (const n of [2, 3]) {
      assert.ok(!(await node(n).index.list()).includes(own), `node ${n} forgot ${own} at once`);
      const error = await failure(node(n).document.create(own, 'c1', { n }));
      assert.match(error?.message ?? 'accepted', /index/i, `node ${n} must answer the normal unknown-index error`);
    }
  });

  it('security: a role or profile changed on node 1 applies at once on nodes 2 and 3', async () => {
    const collection = 'sec';
    await ensureCollection(node(1), index, collection);
    const role = uniqueName('kpc-role');
    const open = uniqueName('kpc-open');
    const profile = uniqueName('kpc-profile');
    const user = uniqueName('kpc-user');
    const controllers = (create: boolean) => ({
      controllers: { document: { actions: { create, get: true } }, auth: { actions: { '*': true } }, realtime: { actions: { '*': true } } },
    });
    await node(1).security.createRole(role, controllers(true), { refresh: 'wait_for' });
    await node(1).security.createRole(open, controllers(true), { refresh: 'wait_for' });
    await node(1).security.createProfile(profile, { policies: [{ roleId: role }] }, { refresh: 'wait_for' });
    await node(1).security.createUser(user, { content: { profileIds: [profile] } }, { refresh: 'wait_for' });
    const users: Kuzzle[] = [];
    for (const n of [2, 3]) {
      const client = await httpClient(portOf(getStack(), n));
      await waitFor(`login on node ${n}`, () => client.auth.login(strategy, { username: user, password: 'open-sesame' }));
      // Loads role and profile into this node's cache.
      await waitFor(`node ${n} to let ${user} create`, async () => Boolean(await client.document.create(index, collection, { by: user })));
      users.push(client);
    }
    // The very next request on nodes 2 and 3 sees the change: no waiting.
    await node(1).security.createOrReplaceRole(role, controllers(false), { refresh: 'wait_for' });
    for (const [i, client] of users.entries()) {
      const error = await failure(client.document.create(index, collection, { by: user }));
      assert.match(error?.message ?? 'allowed', /forbidden|not allowed|insufficient/i, `node ${i + 2} after the role change`);
    }
    await node(1).security.createOrReplaceProfile(profile, { policies: [{ roleId: open }] }, { refresh: 'wait_for' });
    for (const [i, client] of users.entries()) {
      assert.equal(await failure(client.document.create(index, collection, { by: user })), undefined, `node ${i + 2} after the profile change`);
    }
  });

  it('validation: specifications updated or deleted on node 1 apply on nodes 2 and 3 by the time the action answers', async () => {
    const collection = 'valid';
    await ensureCollection(node(1), index, collection);
    for (const n of [2, 3]) assert.ok(await node(n).document.create(index, collection, { name: 'x' }), `node ${n} accepts`);
    await node(1).collection.updateSpecifications(index, collection, {
      strict: true,
      fields: { age: { type: 'integer', mandatory: true } },
    });
    for (const n of [2, 3]) {
      const error = await failure(node(n).document.create(index, collection, { name: 'x' }));
      assert.match(error?.message ?? 'accepted', /age|mandatory|validation|specification/i, `node ${n} enforces the specifications at once`);
      assert.ok(await node(n).document.create(index, collection, { age: 3 }));
    }
    await node(1).collection.deleteSpecifications(index, collection);
    for (const n of [2, 3]) {
      assert.equal(await failure(node(n).document.create(index, collection, { name: 'x' })), undefined, `node ${n} dropped the specifications at once`);
    }
  });

  it('app.cluster: broadcast on node 1 reaches the listeners of nodes 2 and 3, not its own (as Kuzzle 2.11+); once fires once', async () => {
    const event = uniqueName('kpc-event');
    for (let n = 1; n <= 3; n++) await fixture(node(n), 'listen', { event });
    await fixture(node(1), 'broadcast', { event }, { hello: 'world' });
    const receivedBy = async (n: number) => ((await fixture(node(n), 'received')) as Array<{ event: string; payload: unknown }>).filter((entry) => entry.event === event);
    for (const n of [2, 3]) {
      const got = await waitFor(`node ${n} listener`, async () => {
        const list = await receivedBy(n);
        return list.length > 0 ? list : undefined;
      });
      assert.deepEqual(got, [{ event, payload: { hello: 'world' } }]);
    }
    // Node 1's listener was never called: the broadcast reached 2 and 3,
    // which got it after node 1 would have, had it been a local emit.
    assert.deepEqual(await receivedBy(1), []);

    const once = uniqueName('kpc-once');
    await fixture(node(2), 'listen', { event: once, once: true });
    await fixture(node(1), 'listen', { event: once });
    const marker = uniqueName('kpc-after-once');
    await fixture(node(2), 'listen', { event: marker });
    await fixture(node(3), 'broadcast', { event: once }, { n: 1 });
    await fixture(node(3), 'broadcast', { event: once }, { n: 2 });
    // Node 3's broadcasts reach node 2 in order: once the marker is there,
    // node 2 has handled both broadcasts of the once event.
    await fixture(node(3), 'broadcast', { event: marker }, {});
    const onNode = async (n: number, name = once) => ((await fixture(node(n), 'received')) as Array<{ event: string }>).filter((entry) => entry.event === name);
    await waitFor('node 1 to get both broadcasts', async () => (await onNode(1)).length === 2);
    await waitFor('node 2 to get the marker', async () => (await onNode(2, marker)).length === 1);
    assert.equal((await onNode(2)).length, 1, 'a once listener is called once');
  });

  it('tokens: a logout on node 1 stops the subscriptions made with that token on node 2, and nodes 2 and 3 refuse it', async () => {
    const collection = 'tokens';
    const { subscriber, jwt } = await userOnNode2(collection);
    const logged = new Recorder();
    const roomId = await subscriber.realtime.subscribe(index, collection, {}, logged.callback);
    // A sentinel (anonymous) on the same node and collection tells when a
    // notification has been delivered there.
    const sentinel = new Recorder();
    await node(2).realtime.subscribe(index, collection, {}, sentinel.callback);
    await node(3).document.create(index, collection, { step: 1 });
    await logged.waitCount(1);
    await sentinel.waitCount(1);

    const other = await httpClient(portOf(getStack(), 1));
    other.jwt = jwt;
    await other.auth.logout();
    // The logout answers once every node revoked the token and dropped its subscriptions.
    for (const n of [2, 3]) {
      assert.equal((await node(n).auth.checkToken(jwt)).valid, false, `node ${n} refuses the token at once`);
    }
    assert.equal(await node(3).realtime.count(roomId), 1, 'only the sentinel is left');
    await node(3).document.create(index, collection, { step: 2 });
    await sentinel.waitCount(2);
    assert.equal(logged.items.length, 1, 'no notification after the token was revoked on another node');
  });

  it('tokens: a token refreshed through nodes 1 and 3 (HTTP) is refreshed on node 2, which holds its subscription, before each refresh answers; the subscription outlives the old token, and a logout of the new one through node 3 stops it', async () => {
    const collection = 'refresh';
    // Short-lived, so that the test sees node 2 outlive it.
    const { user, subscriber, jwt } = await userOnNode2(collection, '10s');
    const received = new Recorder();
    const roomId = await subscriber.realtime.subscribe(index, collection, {}, received.callback);
    // An anonymous subscriber of the same room keeps it counted once the user's is gone.
    await node(2).realtime.subscribe(index, collection, {}, () => undefined);
    const entriesOnNode2 = (): Promise<unknown> => fixture(node(2), 'tokenEntries', { userId: user });
    assert.deepEqual(await entriesOnNode2(), [{ jwt, rooms: [roomId] }]);

    const through1 = await httpClient(portOf(getStack(), 1));
    through1.jwt = jwt;
    // Not the login's lifetime: refreshed within the same second, the JWT would be the same.
    const first = (await through1.auth.refreshToken({ expiresIn: '11s' })) as { jwt: string; expiresAt: number };
    assert.deepEqual(await entriesOnNode2(), [{ jwt: first.jwt, rooms: [roomId] }], 'node 2 moved the connection before the refresh answered');
    const through3 = await httpClient(portOf(getStack(), 3));
    through3.jwt = first.jwt;
    const second = (await through3.auth.refreshToken({ expiresIn: '1h' })) as { jwt: string; expiresAt: number };
    assert.deepEqual(await entriesOnNode2(), [{ jwt: second.jwt, rooms: [roomId] }]);

    // Node 2's token manager drops a connection when its token's expiry comes (same machine, same clock).
    await waitFor('both earlier tokens past their expiry', () => Date.now() > first.expiresAt + 500, { timeoutMs: 20_000 });
    await node(3).document.create(index, collection, { step: 1 });
    await received.waitCount(1);
    assert.equal(await node(1).realtime.count(roomId), 2, 'the subscription outlived the old tokens');

    through3.jwt = second.jwt;
    await through3.auth.logout();
    assert.equal(await node(1).realtime.count(roomId), 1, 'the logout through node 3 stopped it before answering');
  });

  it('API keys: deleting a key on node 1 stops the subscriptions made with it on node 2 before the deletion answers', async () => {
    const collection = 'apikeys';
    await ensureCollection(node(1), index, collection);
    const user = uniqueName('kpc-key');
    await node(1).security.createUser(user, { content: { profileIds: ['default'] } }, { refresh: 'wait_for' });
    const key = (await node(1).security.createApiKey(user, 'cluster test', { refresh: 'wait_for' })) as unknown as { _id: string; _source: { token: string } };
    const subscriber = await wsClient(portOf(getStack(), 2));
    subscriber.jwt = key._source.token;
    const received = new Recorder();
    const roomId = await subscriber.realtime.subscribe(index, collection, {}, received.callback);
    const sentinel = new Recorder();
    await node(2).realtime.subscribe(index, collection, {}, sentinel.callback);
    await node(3).document.create(index, collection, { step: 1 });
    await received.waitCount(1);
    await node(1).security.deleteApiKey(user, key._id, { refresh: 'wait_for' });
    // Answered once every node dropped what the key fed: counted at once.
    assert.equal(await node(3).realtime.count(roomId), 1, 'only the sentinel is left');
    await node(3).document.create(index, collection, { step: 2 });
    await sentinel.waitCount(2);
    assert.equal(received.items.length, 1, 'no notification after the key was deleted on another node');
  });

  it('roles written through Kuzzle\'s internals by a plugin (no API event) apply on every node within seconds', async () => {
    const role = uniqueName('kpc-internal-role');
    const allowed = { controllers: { auth: { actions: { '*': true } }, server: { actions: { now: true } } } };
    await node(1).security.createRole(role, allowed, { refresh: 'wait_for' });
    await node(1).security.createProfile(role, { policies: [{ roleId: role }] }, { refresh: 'wait_for' });
    const user = uniqueName('kpc-internal-user');
    await node(1).security.createUser(user, { content: { profileIds: [role] } }, { refresh: 'wait_for' });
    const clientsOf = await Promise.all([2, 3].map(async (n) => {
      const client = await httpClient(portOf(getStack(), n));
      await waitFor(`login on node ${n}`, () => client.auth.login(strategy, { username: user, password: 'open-sesame' }));
      assert.ok(await client.server.now({}));
      return client;
    }));
    await fixture(node(1), 'updateRoleInternally', { name: role }, { controllers: { auth: { actions: { '*': true } }, server: { actions: { now: false } } } });
    for (const client of clientsOf) {
      await waitFor('the internal change to apply', async () => (await failure(client.server.now({}))) !== undefined, { timeoutMs: 5000 });
    }
  });

  it('propagate: false subscriptions of the embedded SDK stay local: notified of changes made through their node only', async () => {
    const collection = 'local-only';
    await ensureCollection(node(1), index, collection);
    await fixture(node(1), 'subscribeLocalOnly', { index, collection }, { equals: { scope: 'local' } });
    const everywhere = new Recorder();
    // The same filter, hence the same room: only this subscriber counts cluster-wide.
    const roomId = await node(2).realtime.subscribe(index, collection, { equals: { scope: 'local' } }, everywhere.callback);
    for (const n of [1, 2, 3]) assert.equal(await node(n).realtime.count(roomId), 1, `count seen from node ${n}`);
    await node(2).document.create(index, collection, { scope: 'local', through: 2 });
    await node(1).document.create(index, collection, { scope: 'local', through: 1 });
    await everywhere.waitCount(2);
    const through = await waitFor('the local-only notification', async () => {
      const items = (await fixture(node(1), 'localOnlyNotifications')) as Array<{ result?: { _source?: { through?: number } } }>;
      return items.length > 0 && items.map((n) => n.result?._source?.through);
    });
    assert.deepEqual(through, [1], 'the local-only subscription sees its own node\'s change only');
  });

  it("realtime:count through the embedded SDK of a plugin, and Kuzzle's realtime:list ask (where the embedded SDK's list ends), answer for the whole cluster, as through the API", async () => {
    const collection = 'sdk-queries';
    await ensureCollection(node(1), index, collection);
    const roomId = await node(1).realtime.subscribe(index, collection, { equals: { sdk: true } }, () => undefined);
    await node(3).realtime.subscribe(index, collection, { equals: { sdk: true } }, () => undefined);
    // Node 2 holds no subscriber of the room: its Kuzzle alone would answer room_not_found and list nothing.
    assert.equal(await fixture(node(2), 'sdkCount', {}, { roomId }), 2);
    const listed = (await fixture(node(2), 'sdkList')) as Record<string, Record<string, Record<string, number>>>;
    assert.equal(listed[index]?.[collection]?.[roomId], 2);
  });

  it('admin:dump on node 1 makes every node dump', async () => {
    const stack = getStack();
    const suffix = uniqueName('kpcdump');
    const dumpDir = join(stack.runDir, 'dump');
    await node(1).query({ controller: 'admin', action: 'dump', suffix });
    try {
      const dumps = await waitFor('3 complete dumps', () => {
        if (!existsSync(dumpDir)) return undefined;
        const done = readdirSync(dumpDir).filter((dir) => dir.includes(suffix) && existsSync(join(dumpDir, dir, 'statistics.json')));
        return done.length >= 3 ? done : undefined;
      }, { timeoutMs: 90_000, intervalMs: 500 });
      assert.equal(dumps.length, 3);
    } finally {
      if (existsSync(dumpDir)) for (const dir of readdirSync(dumpDir)) if (dir.includes(suffix)) rmSync(join(dumpDir, dir), { recursive: true, force: true });
    }
  });

  it('strategies: a strategy added at run time on node 1 can be used on nodes 2 and 3', async () => {
    await node(1).security.createUser(stratUser, { content: { profileIds: ['default'] } }, { refresh: 'wait_for' });
    for (const n of [2, 3]) {
      const client = await httpClient(portOf(getStack(), n));
      await waitFor(`node ${n} to log in with ${strategy}`, async () => Boolean(await client.auth.login(strategy, { username: stratUser, password: 'open-sesame' })));
    }
  });

  it('admin:resetCache on node 1 does not break the cluster: counts, subscriptions and runtime state are restored', async () => {
    const collection = 'reset';
    await ensureCollection(node(1), index, collection);
    const recorder = new Recorder();
    const roomId = await node(2).realtime.subscribe(index, collection, {}, recorder.callback);
    await waitFor('count 1 seen from node 3', async () => (await node(3).realtime.count(roomId)) === 1);
    await node(1).query({ controller: 'admin', action: 'resetCache', database: 'internalCache' });
    await waitFor('count 1 seen from node 3 after the reset', async () => (await node(3).realtime.count(roomId)) === 1);
    const stack = getStack();
    const redis = stack.stateRedis();
    try {
      await waitFor('the runtime strategies back in Redis', async () => (await redis.hexists('kpc:kuzzle:{kpc:kuzzle:kuzzle}:strategies', strategy)) === 1);
    } finally {
      redis.disconnect();
    }
    await node(3).document.create(index, collection, { after: 'reset' });
    await recorder.waitCount(1);
  });

  it('strategies: survive a node restart; a removal on node 1 applies everywhere and local stays', async () => {
    const stack = getStack();
    await stack.node(2).restart();
    const restarted = await httpClient(portOf(stack, 2));
    await waitFor('the restarted node 2 to know the strategy', async () => Boolean(await restarted.auth.login(strategy, { username: stratUser, password: 'open-sesame' })));
    await fixture(node(1), 'removeStrategy', { name: strategy });
    const third = await httpClient(portOf(stack, 3));
    for (const client of [restarted, third]) {
      await waitFor('the strategy to be gone', async () => !(await client.auth.getStrategies()).includes(strategy));
      assert.ok((await client.auth.getStrategies()).includes('local'));
    }
    // The suite's WebSocket client of node 2 lost its connection with the
    // restart and reconnects by itself (every second): the next tests use it.
    await waitFor('the suite\'s client of node 2 to reconnect', () => node(2).connected);
  });

  it('admin:resetSecurity on node 1 resets the rights of every node, and drops on every node the subscriptions of the users it deleted', async () => {
    const collection = 'reset';
    await ensureCollection(node(1), index, collection);
    const user = uniqueName('kpc-reset');
    // Kuzzle's own strategy: the run-time one was removed by the test before.
    const credentials = { username: user, password: 'open-sesame' };
    await node(1).security.createUser(user, { content: { profileIds: ['default'] }, credentials: { local: credentials } }, { refresh: 'wait_for' });
    const subscriber = await wsClient(portOf(getStack(), 2));
    await subscriber.auth.login('local', credentials);
    const logged = new Recorder();
    const roomId = await subscriber.realtime.subscribe(index, collection, {}, logged.callback);
    const sentinel = new Recorder();
    await node(2).realtime.subscribe(index, collection, {}, sentinel.callback);
    // Forbid server:now to anonymous through node 1: nodes 2 and 3 enforce it at once.
    await node(1).security.updateRole('anonymous', {
      controllers: { '*': { actions: { '*': true } }, server: { actions: { now: false } } },
    });
    for (const n of [2, 3]) {
      assert.ok(await failure(node(n).server.now({})), `node ${n} still allows server:now`);
    }
    await node(1).query({ controller: 'admin', action: 'resetSecurity' });
    for (const n of [2, 3]) {
      assert.equal(await failure(node(n).server.now({})), undefined, `node ${n} allows server:now again at once`);
    }
    // Users are deleted with their tokens through no event: node 2 dropped the user's subscription by the time the action answered.
    assert.equal(await node(3).realtime.count(roomId), 1, 'only the sentinel is left');
    await node(3).document.create(index, collection, { step: 1 });
    await sentinel.waitCount(1);
    assert.equal(logged.items.length, 0, 'no notification for a deleted user');
  });

  it('admin:shutdown on node 1 shuts every node down, each leaving the cluster cleanly', async () => {
    const stack = getStack();
    const lb = await httpClient(portOf(stack, 1));
    await lb.query({ controller: 'admin', action: 'shutdown' });
    for (let n = 1; n <= 3; n++) {
      await waitFor(`node ${n} to exit`, () => !stack.node(n).alive, { timeoutMs: 60_000, intervalMs: 250 });
      assert.match(stack.node(n).process?.describeExit() ?? '', /code 0$/);
    }
    const redis = stack.stateRedis();
    try {
      // A node that left cleanly removed its card; one found dead would linger until its TTL.
      assert.equal(await redis.exists(new StateKeys(clusterPrefix('kuzzle')).cards), 0);
    } finally {
      redis.disconnect();
    }
  });
});
