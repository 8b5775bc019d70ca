import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { Redis } from 'ioredis';
import { closeForGood, ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { assertNoGhost, waitCounts, waitMembers } from './support/cluster-checks';

/**
 * Twenty restarts of one node, graceful and kill -9 in turn, each time with
 * a subscriber on it: the shared state ends with exactly the live nodes'
 * keys, and counts are right from every node.
 */
describe('faults: 20 restarts leave nothing behind', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('restarts');
  const collection = 'c';
  let watchers: Kuzzle[] = [];

  before(async () => {
    watchers = [await wsClient(portOf(stack(), 1)), await wsClient(portOf(stack(), 2))];
    await ensureCollection(watchers[0] as Kuzzle, index, collection);
  });

  it('ends with one owner per live node that has subscribers, one card per live node, right counts', { timeout: 900_000 }, async () => {
    const filter = { equals: { restarts: true } };
    const roomId = await (watchers[0] as Kuzzle).realtime.subscribe(index, collection, filter, () => undefined);
    for (let round = 1; round <= 20; round++) {
      const client = await wsClient(portOf(stack(), 3));
      await client.realtime.subscribe(index, collection, filter, () => undefined);
      await waitCounts(watchers, roomId, 2);
      if (round % 2 === 0) await stack().node(3).kill();
      else await stack().node(3).stop();
      closeForGood(client);
      await waitMembers(stack(), [1, 2], 2, 15_000);
      await waitCounts(watchers, roomId, 1, 15_000);
      stack().node(3).start();
      await stack().node(3).waitReady();
      await waitMembers(stack(), [1, 2, 3], 3);
    }
    await assertNoGhost(stack(), [1, 2, 3]);
    const redis = new Redis(stack().redis?.port ?? 0, '127.0.0.1', { lazyConnect: true });
    try {
      await redis.connect();
      const owners = await redis.smembers('kpc:kuzzle:{kpc:kuzzle}:owners');
      assert.equal(owners.length, 1, `only node 1 holds a subscriber: ${owners.join(', ')}`);
      const keys = (await redis.keys('kpc:*')).filter((key) => key.includes(':owner:'));
      assert.equal(keys.length, 1, `one owner hash left: ${keys.join(', ')}`);
    } finally {
      redis.disconnect();
    }
  });
});
