import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ensureCollection, httpJson, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, healthOf, statusOf, waitCounts } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber, subscribersOn } from './support/numbered-stream';

/**
 * Redis loses the cluster's state (FLUSHALL, or a crash and restart with no
 * data): every node notices it by itself (the epoch) and writes its live
 * subscriptions back, so counts are right again within seconds, with no
 * reset call; notifications never stop (filters live in each node).
 */
describe('faults: Redis loses its data', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('redis-loss');
  const collection = 'c';
  let stream: NumberedStream;
  const subscribers: StreamSubscriber[] = [];
  let clients: Kuzzle[] = [];

  before(async () => {
    const publisher = await wsClient(portOf(stack(), 1));
    await ensureCollection(publisher, index, collection);
    stream = new NumberedStream(publisher, index, collection, uniqueName('stream'));
    subscribers.push(...(await subscribersOn(stack(), stream)));
    clients = subscribers.map((s) => s.client);
    stream.start();
  });

  const roomId = (): string => subscribers[0]?.roomId ?? '';

  it('FLUSHALL: counts are right again on every node within 5 s, nothing lost, no manual reset', { timeout: 120_000 }, async () => {
    await waitCounts(clients, roomId(), 3);
    execFileSync('redis-cli', ['-p', String(stack().redis?.port), 'FLUSHALL']);
    await waitCounts(clients, roomId(), 3, 5_000);
    const losses = await Promise.all([1, 2, 3].map(async (node) => (await statusOf(stack(), node)).repair.stateLosses));
    assert.ok(losses.every((n) => n >= 1), `every node noticed the loss: ${losses.join(', ')}`);
    const from = stream.position;
    await waitFor('100 more messages', () => stream.position > from + 100);
    await assertNoLoss(stream, subscribers);
  });

  it('Redis killed (-9) and restarted empty: health is 503 once it is down for longer than timers.stateUnreachable, then counts are right within 5 s', { timeout: 120_000 }, async () => {
    const redis = stack().redis;
    assert.ok(redis);
    redis.process.signal('SIGKILL');
    await redis.process.waitExit();
    // 503 after timers.stateUnreachable (30 s by default): a failover-sized outage is ridden out.
    await waitFor('health 503 on every node while Redis is down', async () => {
      const codes = await Promise.all([1, 2, 3].map((node) => healthOf(stack(), node)));
      return codes.every((code) => code === 503);
    }, { timeoutMs: 45_000 });
    // Kuzzle cannot check tokens without Redis, so status (signed-in users only) waits: health says why.
    const health = await httpJson(`http://127.0.0.1:${portOf(stack(), 1)}/_plugin/cluster/health`);
    assert.match(JSON.stringify(health.body), /the shared state \(Redis\) is unreachable/);
    await stack().restartRedisEmpty();
    await waitFor('health 200 on every node', async () => {
      const codes = await Promise.all([1, 2, 3].map((node) => healthOf(stack(), node)));
      return codes.every((code) => code === 200);
    }, { timeoutMs: 15_000 });
    await waitCounts(clients, roomId(), 3, 5_000);
    await assertNoGhost(stack(), [1, 2, 3]);
    const from = stream.position;
    await waitFor('100 more messages', () => stream.position > from + 100);
    await stream.stop();
    // Messages acknowledged while Redis was down reached every subscriber too.
    await assertNoLoss(stream, subscribers);
  });
});
