import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { waitFor } from '../harness/wait';
import { ensureCollection, portOf, Recorder, uniqueName, useStack, wsClient } from './support/fixture';

/**
 * The plugin's shared state on a real Redis Cluster (3 masters), given
 * through its `redis.nodes` option: membership, Lua scripts and node cards
 * must each stay within one slot.
 */
describe('the plugin on a Redis Cluster', () => {
  const stack = useStack({ nodes: 3, pluginRedisCluster: true });
  const index = uniqueName('rc');
  const collection = 'c';
  let a: Kuzzle;
  let c: Kuzzle;

  before(async () => {
    a = await wsClient(portOf(stack(), 1));
    c = await wsClient(portOf(stack(), 3));
    await ensureCollection(a, index, collection);
  });

  it('nodes find each other, and notifications and counts work across nodes', async () => {
    for (let n = 1; n <= 3; n++) {
      assert.equal((await stack().clusterStatus<{ members: number }>(n)).members, 3);
    }
    const recorder = new Recorder();
    const rooms: string[] = [];
    // Several collections' worth of rooms spread over the cluster's slots.
    for (let i = 0; i < 20; i++) rooms.push(await a.realtime.subscribe(index, collection, { equals: { i } }, recorder.callback));
    for (let i = 0; i < 20; i++) await c.realtime.publish(index, collection, { i });
    await recorder.waitCount(20);
    assert.equal(await c.realtime.count(rooms[7] ?? ''), 1);
    await stack().node(2).kill();
    await waitFor('node 2 evicted', async () => {
      return (await stack().clusterStatus<{ members: number }>(1)).members === 2;
    }, { timeoutMs: 15_000 });
  });
});
