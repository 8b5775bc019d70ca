import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ManagedProcess } from '../harness/managed-process';
import { freePort } from '../harness/ports';
import { startReadmeBalancer, type BalancerKind } from '../harness/readme-balancers';
import { waitFor } from '../harness/wait';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from './support/fixture';

interface Answer {
  method: string;
  status: number;
  node: string | null;
  error?: string;
}

/**
 * README's HAProxy and nginx configurations, as written there, in front of
 * the same 3 nodes: requests spread over every node, WebSocket subscriptions
 * are notified through them, and a node that crashes or stops is stepped
 * over without the clients seeing it (README says which requests nginx may
 * still refuse while a node stops).
 */
describe('README\'s load-balancer examples (HAProxy and nginx)', () => {
  const stack = useStack({ nodes: 3 });
  const balancers = new Map<BalancerKind, { port: number; proc: ManagedProcess }>();
  const index = uniqueName('lb');
  const collection = 'c';

  before(async () => {
    const nodePorts = [1, 2, 3].map((node) => portOf(stack(), node));
    for (const kind of ['haproxy', 'nginx'] as const) {
      const port = await freePort();
      balancers.set(kind, { port, proc: await startReadmeBalancer(kind, stack().runDir, nodePorts, port) });
    }
    await ensureCollection(await wsClient(nodePorts[0] ?? 0), index, collection);
  });

  after(async () => {
    await Promise.all([...balancers.values()].map((b) => b.proc.stop(3000)));
  });

  const portOfBalancer = (kind: BalancerKind): number => {
    const balancer = balancers.get(kind);
    assert.ok(balancer, `${kind} started`);
    return balancer.port;
  };

  /** One request through a balancer: `GET /_now` (server:now), or `POST …/_publish` (realtime:publish, not idempotent). */
  async function request(kind: BalancerKind, method: 'GET' | 'POST'): Promise<Answer> {
    const base = `http://127.0.0.1:${portOfBalancer(kind)}`;
    const response = method === 'GET'
      ? await fetch(`${base}/_now`)
      : await fetch(`${base}/${index}/${collection}/_publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"through":"balancer"}' });
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } | null };
    return { method, status: response.status, node: response.headers.get('x-kuzzle-node'), error: body.error?.message };
  }

  const failures = (answers: Answer[]): Answer[] => answers.filter((a) => a.status !== 200);

  for (const kind of ['haproxy', 'nginx'] as const) {
    it(`${kind}: HTTP requests reach every node, and WebSocket subscriptions are notified through it`, async () => {
      const nodes = new Set<string>();
      await waitFor(`${kind} to send requests to all 3 nodes`, async () => {
        const answer = await request(kind, 'GET');
        assert.equal(answer.status, 200);
        if (answer.node) nodes.add(answer.node);
        return nodes.size === 3;
      }, { timeoutMs: 20_000 });
      const subscriber = await wsClient(portOfBalancer(kind));
      const publisher = await wsClient(portOfBalancer(kind));
      const received: unknown[] = [];
      await subscriber.realtime.subscribe(index, collection, { equals: { through: kind } }, (n: unknown) => void received.push(n));
      await publisher.realtime.publish(index, collection, { through: kind });
      await waitFor('the notification through the balancer', () => received.length === 1);
    });
  }

  it('after a kill -9 of a node, every following request through either balancer succeeds', async () => {
    await stack().node(3).kill();
    const answers: Answer[] = [];
    for (let i = 0; i < 30; i++) {
      for (const kind of ['haproxy', 'nginx'] as const) answers.push(await request(kind, i % 2 === 0 ? 'GET' : 'POST'));
    }
    assert.deepEqual(failures(answers), []);
  });

  it('while a node stops (SIGTERM): every request through HAProxy succeeds; through nginx every GET, and POSTs are answered or refused unrun', { timeout: 60_000 }, async () => {
    const stopping = stack().node(2).stop();
    let stopped = false;
    void stopping.then(() => (stopped = true));
    const answers = new Map<BalancerKind, Answer[]>([['haproxy', []], ['nginx', []]]);
    for (let i = 0; !stopped || i < 20; i++) {
      for (const kind of ['haproxy', 'nginx'] as const) answers.get(kind)?.push(await request(kind, i % 2 === 0 ? 'GET' : 'POST'));
    }
    await stopping;
    assert.deepEqual(failures(answers.get('haproxy') ?? []), [], 'HAProxy');
    const nginx = failures(answers.get('nginx') ?? []);
    assert.deepEqual(nginx.filter((a) => a.method === 'GET'), [], 'nginx GET');
    for (const answer of nginx) assert.ok(answer.status === 503 && /shutting down/i.test(answer.error ?? ''), `nginx POST refused as not run: ${JSON.stringify(answer)}`);
  });
});
