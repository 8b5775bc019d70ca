import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ensureCollection, fixtureAction, httpClient, portOf, uniqueName, useFixturePlugin, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, statusOf, waitCounts, waitMembers } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, subscribersOn } from './support/numbered-stream';

useFixturePlugin();

/**
 * A node whose event loop is blocked by a heavy request for longer than the
 * heartbeat timeout, and a node that stops reading long enough for its peers
 * to drop broadcasts (a small high water mark makes it quick): neither
 * leaves a lasting inconsistency, and the lost broadcasts are noticed.
 */
describe('faults: event-loop stalls and dropped broadcasts', () => {
  const stack = useStack({ nodes: 3, clusterOptions: { highWaterMark: 20 } });
  const index = uniqueName('stall');
  const collection = 'c';
  let clients: Kuzzle[] = [];

  before(async () => {
    clients = [await wsClient(portOf(stack(), 1), patient), await wsClient(portOf(stack(), 2), patient), await wsClient(portOf(stack(), 3), patient)];
    await ensureCollection(clients[0] as Kuzzle, index, collection);
  });

  // The SDK drops a WebSocket whose node misses a ping for 2 s: these tests stall nodes longer.
  const patient = { pingInterval: 20_000 };

  it('a node blocked 3 s by a heavy request: no lasting inconsistency, no notification lost', { timeout: 180_000 }, async () => {
    const stream = new NumberedStream(clients[0] as Kuzzle, index, collection, uniqueName('stall'));
    const subs = await subscribersOn(stack(), stream, [1, 2, 3], patient);
    stream.start();
    await waitFor('a few messages', () => stream.position > 100);
    await fixtureAction(await httpClient(portOf(stack(), 3)), 'block', { ms: 3000 });
    await waitMembers(stack(), [1, 2, 3], 3);
    await waitFor('node 3 settled', async () => !(await statusOf(stack(), 3)).node.resyncing, { timeoutMs: 20_000 });
    await waitCounts(clients, subs[0]?.roomId ?? '', 3, 10_000);
    const from = stream.position;
    await waitFor('100 more messages', () => stream.position > from + 100);
    await stream.stop();
    await assertNoLoss(stream, subs);
    await assertNoGhost(stack(), [1, 2, 3]);
  });

  it('broadcasts dropped for a node that stopped reading: the gap is counted and repaired, the cluster converges', { timeout: 180_000 }, async () => {
    const stream = new NumberedStream(clients[0] as Kuzzle, index, collection, uniqueName('gap'));
    const subs = await subscribersOn(stack(), stream, [1, 2, 3], patient);
    // A room for the burst, so that each message is broadcast to the peers.
    await (clients[0] as Kuzzle).realtime.subscribe(index, collection, { equals: { stream: 'burst' } }, () => undefined);
    const before = await statusOf(stack(), 3);
    stack().node(3).freeze();
    try {
      // Big messages fill the sockets' buffers, then node 1's PUB drops what node 3 cannot take.
      const payload = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 600; i++) await (clients[0] as Kuzzle).realtime.publish(index, collection, { stream: 'burst', payload });
    } finally {
      stack().node(3).thaw();
    }
    await waitFor('node 3 to count the gap and repair it', async () => {
      const status = await statusOf(stack(), 3);
      return status.repair.gapRepairs > before.repair.gapRepairs && (status.peers.find((p) => p.missedBroadcasts > 0) !== undefined);
    }, { timeoutMs: 20_000 });
    await waitMembers(stack(), [1, 2, 3], 3);
    await waitCounts(clients, subs[0]?.roomId ?? '', 3, 10_000);
    stream.start();
    await waitFor('100 messages after the repair', () => stream.position > 100);
    await stream.stop();
    await assertNoLoss(stream, subs);
    assert.ok((await statusOf(stack(), 3)).transport.gaps, 'gaps are reported per peer');
  });
});
