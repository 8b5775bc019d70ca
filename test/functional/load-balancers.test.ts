import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ManagedProcess } from '../harness/managed-process';
import { freePort } from '../harness/ports';
import { startReadmeBalancer, type BalancerKind } from '../harness/readme-balancers';
import { waitFor } from '../harness/wait';
import { closeForGood, ensureCollection, portOf, uniqueName, useStack, wsClient } from './support/fixture';

interface Answer {
  method: string;
  /** What a POST published. */
  n: number;
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

  /**
   * One request through a balancer: `GET /_now` (server:now), or
   * `POST …/_publish` (realtime:publish, not idempotent) of `{ n }`.
   */
  async function request(kind: BalancerKind, method: 'GET' | 'POST', n = 0): Promise<Answer> {
    const base = `http://127.0.0.1:${portOfBalancer(kind)}`;
    const response = method === 'GET'
      ? await fetch(`${base}/_now`)
      : await fetch(`${base}/${index}/${collection}/_publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) });
    const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } | null };
    return { method, n, status: response.status, node: response.headers.get('x-kuzzle-node'), error: body.error?.message };
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
      // Closed now: once their node is stopped below, the SDK would keep
      // reconnecting (a timer that outlives the file).
      closeForGood(subscriber);
      closeForGood(publisher);
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

  it('while a node stops (SIGTERM): every request through HAProxy succeeds; through nginx every GET, and a POST is answered or was not run', { timeout: 60_000 }, async () => {
    // Every publish that ran notifies this subscriber of node 1, which stays up.
    const witness = await wsClient(portOf(stack(), 1));
    const ran = new Set<number>();
    await witness.realtime.subscribe(index, collection, { range: { n: { gte: 1 } } }, (notification: unknown) => {
      const published = (notification as { result?: { _source?: { n?: unknown } } }).result?._source?.n;
      if (typeof published === 'number') ran.add(published);
    });
    const stopping = stack().node(2).stop();
    let stopped = false;
    void stopping.then(() => (stopped = true));
    const answers = new Map<BalancerKind, Answer[]>([['haproxy', []], ['nginx', []]]);
    let n = 0;
    for (let i = 0; !stopped || i < 20; i++) {
      for (const kind of ['haproxy', 'nginx'] as const) answers.get(kind)?.push(await request(kind, i % 2 === 0 ? 'GET' : 'POST', ++n));
    }
    await stopping;
    assert.deepEqual(failures(answers.get('haproxy') ?? []), [], 'HAProxy');
    const nginx = answers.get('nginx') ?? [];
    assert.deepEqual(failures(nginx).filter((a) => a.method === 'GET'), [], 'nginx GET');
    // nginx never resends a POST: the stopping node refused it (503) or
    // exited with it unread (502). Either way it did not run.
    const posts = [...answers.values()].flat().filter((a) => a.method === 'POST');
    const succeeded = posts.filter((a) => a.status === 200).map((a) => a.n);
    const marker = ++n;
    await witness.realtime.publish(index, collection, { n: marker });
    await waitFor('every publish that succeeded, and the marker', () => succeeded.every((x) => ran.has(x)) && ran.has(marker));
    const refused = failures(nginx).filter((a) => a.method === 'POST');
    for (const answer of refused) {
      assert.ok([502, 503].includes(answer.status), `nginx POST: ${JSON.stringify(answer)}`);
      assert.ok(!ran.has(answer.n), `a POST answered ${answer.status} did not run`);
    }
  });
});
