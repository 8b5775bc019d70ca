import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { RealtimeState } from '../../src/state/realtime-state';
import { createRedisClient } from '../../src/state/redis-client';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedisCluster, type RunningRedisCluster } from '../harness/redis-cluster';
import { newRunDir } from '../harness/run-dir';

killManagedProcessesOnSignal();

const room = (roomId: string, collection: string, index = 'idx') => ({ index, collection, roomId, filters: { equals: { roomId } } });

/**
 * The same scenarios as the standalone suite, through a cluster client: any
 * script touching keys of two slots would fail with CROSSSLOT.
 */
describe('RealtimeState (Redis Cluster)', () => {
  let cluster: RunningRedisCluster | undefined;
  let client: Redis | Cluster;
  // Enough collections to spread over every master's slots.
  const collections = Array.from({ length: 12 }, (_, i) => `col:{${i}}`);

  before(async () => {
    cluster = await startRedisCluster(newRunDir('state-cluster'));
    client = createRedisClient({ nodes: cluster.nodes });
  });

  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  async function freshState(): Promise<RealtimeState> {
    const state = new RealtimeState(client, { prefix: `t${randomUUID()}` });
    await state.init();
    return state;
  }

  it('spreads collections over several masters', async () => {
    const state = await freshState();
    const slots = await Promise.all(collections.map((c) => client.cluster('KEYSLOT', state.keys.collection('idx', c).rooms)));
    const ranges = (await client.cluster('SLOTS')) as Array<[number, number, ...unknown[]]>;
    const owners = new Set(slots.map((slot) => ranges.findIndex(([from, to]) => Number(slot) >= from && Number(slot) <= to)));
    assert.ok(owners.size >= 2, `collections all on one master: ${[...owners].join(',')}`);
  });

  it('adds, removes, counts and locates rooms in every slot', async () => {
    const state = await freshState();
    for (const c of collections) {
      assert.deepEqual(await state.addSubscriber(room(`r-${c}`, c), 'n:1', 2), { version: 1, total: 2, created: true });
      assert.deepEqual(await state.addSubscriber(room(`r-${c}`, c), 'n:2'), { version: 2, total: 3, created: false });
    }
    for (const c of collections) {
      assert.deepEqual(await state.locateRoom(`r-${c}`), { index: 'idx', collection: c });
      assert.equal(await state.countRoom(`r-${c}`), 3);
      assert.deepEqual(await state.removeSubscriber('idx', c, `r-${c}`, 'n:1', 2), { version: 3, total: 1, removed: false });
      assert.deepEqual(await state.removeSubscriber('idx', c, `r-${c}`, 'n:2'), { version: 4, total: 0, removed: true });
      assert.equal(await state.locateRoom(`r-${c}`), undefined);
    }
    assert.deepEqual(await state.getAll(), []);
  });

  it('removeNode and replaceNode across collections', async () => {
    const state = await freshState();
    for (const c of collections) {
      await state.addSubscriber(room('shared', c, 'i'), 'dead');
      await state.addSubscriber(room('shared', c, 'i'), 'alive');
      await state.addSubscriber(room('own', c, 'i'), 'dead', 3);
    }
    const removed = await state.removeNode('dead');
    assert.equal(removed.length, collections.length);
    assert.ok(removed.every((change) => change.version === 4 && change.removedRooms.join() === 'own'));
    const replaced = await state.replaceNode('alive', [{ ...room('fresh', collections[0] as string, 'i'), count: 4 }]);
    assert.equal(replaced.length, collections.length);
    const all = await state.getAll();
    assert.equal(all.length, 1);
    assert.deepEqual(all[0]?.rooms.map((r) => [r.roomId, r.counts]), [['fresh', { alive: 4 }]]);
  });

  it('keeps exact counts under concurrent updates', async () => {
    const state = await freshState();
    const ops = Array.from({ length: 300 }, (_, i) =>
      state.addSubscriber(room(`r${i % 10}`, collections[i % collections.length] as string), `n${i % 3}`),
    );
    await Promise.all(ops);
    const all = await state.getAll();
    assert.equal(all.reduce((sum, s) => sum + s.rooms.reduce((acc, r) => acc + r.total, 0), 0), 300);
    assert.equal(all.reduce((sum, s) => sum + s.version, 0), 300);
  });

  it('clear deletes every key of its prefix', async () => {
    const state = await freshState();
    for (const c of collections) await state.addSubscriber(room(`r-${c}`, c), 'n1');
    await state.clear();
    assert.deepEqual(await state.getAll(), []);
    const masters = (client as Cluster).nodes('master');
    const leftovers = await Promise.all(masters.map((node) => node.keys(`${state.keys.prefix}:*`)));
    assert.deepEqual(leftovers.flat(), []);
  });
});
