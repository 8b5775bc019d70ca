import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { CorruptStateError, InvalidCountError } from '../../src/state/errors';
import { RealtimeState, type CollectionSnapshot } from '../../src/state/realtime-state';
import { createRedisClient } from '../../src/state/redis-client';
import { runScript } from '../../src/state/scripts';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedis, type RunningRedis } from '../harness/redis-server';
import { newRunDir } from '../harness/run-dir';

killManagedProcessesOnSignal();

const room = (roomId: string, index = 'idx', collection = 'col') => ({ index, collection, roomId, filters: { equals: { roomId } } });

/** roomId → nodeId → count, for compact assertions. */
function countsOf(snapshot: CollectionSnapshot): Record<string, Record<string, number>> {
  return Object.fromEntries(snapshot.rooms.map((r) => [r.roomId, r.counts]));
}

describe('RealtimeState (standalone Redis)', () => {
  let server: RunningRedis | undefined;
  let client: Redis | Cluster;

  before(async () => {
    server = await startRedis(newRunDir('state'));
    client = createRedisClient({ node: { host: server.host, port: server.port } });
  });

  after(async () => {
    client?.disconnect();
    await server?.stop();
  });

  async function freshState(): Promise<RealtimeState> {
    const state = new RealtimeState(client, { prefix: `t${randomUUID()}` });
    await state.init();
    await state.init(); // idempotent
    return state;
  }

  it('adds and removes subscribers with versions, totals and flags', async () => {
    const state = await freshState();
    assert.equal(await state.getVersion('idx', 'col'), 0);
    assert.deepEqual(await state.addSubscriber(room('r1'), 'n1'), { version: 1, total: 1, created: true });
    assert.deepEqual(await state.addSubscriber(room('r1'), 'n1', 3), { version: 2, total: 4, created: false });
    assert.equal(await state.countRoom('r1'), 4);
    assert.deepEqual(await state.removeSubscriber('idx', 'col', 'r1', 'n1', 2), { version: 3, total: 2, removed: false });
    // Never below 0: removing more than held deletes the room.
    assert.deepEqual(await state.removeSubscriber('idx', 'col', 'r1', 'n1', 10), { version: 4, total: 0, removed: true });
    // Nothing to remove: no change, no version bump.
    assert.deepEqual(await state.removeSubscriber('idx', 'col', 'r1', 'n1'), { version: 4, total: 0, removed: false });
    assert.equal(await state.getVersion('idx', 'col'), 4);
    assert.equal(await state.countRoom('r1'), undefined);
    assert.equal(await state.locateRoom('r1'), undefined);
    assert.equal(await client.scard(state.keys.collection('idx', 'col').nodes), 0);
  });

  it('counts two nodes in one room cluster-wide', async () => {
    const state = await freshState();
    await state.addSubscriber(room('r1'), 'n1', 2);
    assert.deepEqual(await state.addSubscriber(room('r1'), 'n2'), { version: 2, total: 3, created: false });
    const snapshot = await state.getCollection('idx', 'col');
    assert.deepEqual(snapshot.rooms, [{ roomId: 'r1', filters: { equals: { roomId: 'r1' } }, counts: { n1: 2, n2: 1 }, total: 3 }]);
    assert.deepEqual(await state.removeSubscriber('idx', 'col', 'r1', 'n1', 2), { version: 3, total: 1, removed: false });
    assert.deepEqual(await client.smembers(state.keys.collection('idx', 'col').nodes), ['n2']);
    assert.deepEqual(await state.locateRoom('r1'), { index: 'idx', collection: 'col' });
  });

  it('removeNode purges only that node and deletes emptied rooms', async () => {
    const state = await freshState();
    await state.addSubscriber(room('shared'), 'dead', 2);
    await state.addSubscriber(room('shared'), 'alive');
    await state.addSubscriber(room('own'), 'dead');
    await state.addSubscriber(room('other', 'idx', 'col2'), 'dead', 5);
    await state.addSubscriber(room('untouched', 'idx', 'col3'), 'alive');
    const changes = await state.removeNode('dead');
    changes.sort((a, b) => a.collection.localeCompare(b.collection));
    assert.deepEqual(changes, [
      { index: 'idx', collection: 'col', version: 4, removedRooms: ['own'] },
      { index: 'idx', collection: 'col2', version: 2, removedRooms: ['other'] },
    ]);
    assert.deepEqual(countsOf(await state.getCollection('idx', 'col')), { shared: { alive: 1 } });
    assert.deepEqual((await state.getCollection('idx', 'col2')).rooms, []);
    assert.equal(await state.getVersion('idx', 'col3'), 1);
    assert.equal(await state.locateRoom('own'), undefined);
    assert.equal(await state.locateRoom('other'), undefined);
    assert.equal(await state.countRoom('shared'), 1);
    assert.deepEqual(await state.removeNode('dead'), []);
    assert.deepEqual((await state.getAll()).map((s) => s.collection).sort(), ['col', 'col3']);
  });

  it('replaceNode sets a node contribution exactly', async () => {
    const state = await freshState();
    await state.addSubscriber(room('r1'), 'a', 2);
    await state.addSubscriber(room('r1'), 'b');
    await state.addSubscriber(room('r2'), 'a');
    await state.addSubscriber(room('r3', 'idx', 'c2'), 'a');
    const changes = await state.replaceNode('a', [
      { ...room('r1'), count: 5 },
      { ...room('r4'), count: 1 },
      { ...room('r4'), count: 1 }, // same room twice: summed
      { ...room('r5', 'idx', 'c3'), count: 2 },
      { ...room('r6', 'idx', 'c3'), count: 0 }, // 0 means absent
    ]);
    changes.sort((x, y) => x.collection.localeCompare(y.collection));
    assert.deepEqual(changes, [
      { index: 'idx', collection: 'c2', version: 2, removedRooms: ['r3'], addedRooms: [] },
      { index: 'idx', collection: 'c3', version: 1, removedRooms: [], addedRooms: ['r5'] },
      { index: 'idx', collection: 'col', version: 4, removedRooms: ['r2'], addedRooms: ['r4'] },
    ]);
    assert.deepEqual(countsOf(await state.getCollection('idx', 'col')), { r1: { a: 5, b: 1 }, r4: { a: 2 } });
    assert.deepEqual(countsOf(await state.getCollection('idx', 'c3')), { r5: { a: 2 } });
    assert.deepEqual(await state.locateRoom('r5'), { index: 'idx', collection: 'c3' });
    assert.equal(await state.locateRoom('r2'), undefined);
    // Same contribution again: nothing changes.
    assert.deepEqual(await state.replaceNode('a', [{ ...room('r1'), count: 5 }, { ...room('r4'), count: 2 }, { ...room('r5', 'idx', 'c3'), count: 2 }]), []);
    // The node's own counters follow: removing its last subscribers clears its membership.
    await state.replaceNode('a', []);
    assert.deepEqual(countsOf(await state.getCollection('idx', 'col')), { r1: { b: 1 } });
    assert.deepEqual(await client.smembers(state.keys.collection('idx', 'col').nodes), ['b']);
  });

  it('getCollection returns consistent snapshots under concurrent writes', async () => {
    const state = await freshState();
    const writes = Array.from({ length: 300 }, (_, i) => state.addSubscriber(room(`r${i % 25}`), `n${i % 4}`));
    const snapshots = Array.from({ length: 30 }, () => state.getCollection('idx', 'col'));
    const [, taken] = await Promise.all([Promise.all(writes), Promise.all(snapshots)]);
    for (const snapshot of taken) {
      // Only +1 additions happen: a consistent snapshot holds exactly `version` subscribers.
      const sum = snapshot.rooms.reduce((acc, r) => acc + r.total, 0);
      assert.equal(sum, snapshot.version);
      for (const r of snapshot.rooms) assert.equal(r.total, Object.values(r.counts).reduce((a, b) => a + b, 0));
    }
    const final = await state.getCollection('idx', 'col');
    assert.equal(final.version, 300);
    assert.equal(final.rooms.length, 25);
  });

  it('locates and counts rooms, undefined when unknown', async () => {
    const state = await freshState();
    assert.equal(await state.locateRoom('nope'), undefined);
    assert.equal(await state.countRoom('nope'), undefined);
    await state.addSubscriber(room('r', 'i2', 'c2'), 'n1', 7);
    assert.deepEqual(await state.locateRoom('r'), { index: 'i2', collection: 'c2' });
    assert.equal(await state.countRoom('r'), 7);
  });

  it('clear deletes every key of its prefix and nothing else', async () => {
    const state = await freshState();
    const neighbour = await freshState();
    await neighbour.addSubscriber(room('keep'), 'n1');
    await state.addSubscriber(room('r1'), 'n1');
    await state.addSubscriber(room('r2', 'i', 'c'), 'n2');
    await state.removeSubscriber('i', 'c', 'r2', 'n2');
    await state.clear();
    assert.deepEqual(await client.keys(`${state.keys.prefix}:*`), []);
    assert.deepEqual(await state.getAll(), []);
    assert.equal(await state.countRoom('r1'), undefined);
    assert.equal(await neighbour.countRoom('keep'), 1);
    await state.clear(); // nothing left: still fine
  });

  it('handles ids containing ":", "{" and "}"', async () => {
    const state = await freshState();
    const odd = { index: 'i:{x}', collection: '}c{:', roomId: 'r:{1}:}', filters: { and: [{ equals: { a: '{' } }] } };
    await state.addSubscriber(odd, 'node:{7}:}');
    await state.addSubscriber({ ...odd, index: 'i', collection: '{x}:}c{:' }, '__proto__', 2);
    assert.deepEqual(await state.locateRoom('r:{1}:}'), { index: 'i', collection: '{x}:}c{:' });
    const snapshot = await state.getCollection('i:{x}', '}c{:');
    assert.deepEqual(snapshot.rooms, [{ roomId: 'r:{1}:}', filters: odd.filters, counts: { 'node:{7}:}': 1 }, total: 1 }]);
    const other = await state.getCollection('i', '{x}:}c{:');
    assert.equal(other.rooms[0]?.counts['__proto__'], 2);
    assert.equal(Object.keys(other.rooms[0]?.counts ?? {}).length, 1);
    assert.deepEqual(await state.removeNode('node:{7}:}'), [{ index: 'i:{x}', collection: '}c{:', version: 2, removedRooms: ['r:{1}:}'] }]);
  });

  it('keeps exact counts under 500 concurrent updates from several nodes', async () => {
    const state = await freshState();
    const nodes = ['n1', 'n2', 'n3', 'n4'];
    const rooms = ['a', 'b', 'c', 'd', 'e'];
    // A baseline larger than any removal, so that no decrement is ever clamped
    // whatever the interleaving, and the expected result is order-independent.
    for (const n of nodes) for (const r of rooms) await state.addSubscriber(room(r), n, 1000);
    const expected = new Map<string, number>();
    const ops: Array<() => Promise<unknown>> = [];
    for (let i = 0; i < 500; i++) {
      const n = nodes[i % nodes.length] as string;
      const r = rooms[(i * 7) % rooms.length] as string;
      const count = 1 + (i % 3);
      const add = i % 2 === 0;
      expected.set(`${r}/${n}`, (expected.get(`${r}/${n}`) ?? 1000) + (add ? count : -count));
      ops.push(() => (add ? state.addSubscriber(room(r), n, count) : state.removeSubscriber('idx', 'col', r, n, count)));
    }
    await Promise.all(ops.map((op) => op()));
    const snapshot = await state.getCollection('idx', 'col');
    assert.equal(snapshot.version, nodes.length * rooms.length + 500);
    for (const r of snapshot.rooms) for (const n of nodes) assert.equal(r.counts[n], expected.get(`${r.roomId}/${n}`) ?? 1000, `${r.roomId}/${n}`);
    // Now drain everything concurrently: every room must disappear.
    await Promise.all(snapshot.rooms.flatMap((r) => Object.entries(r.counts).map(([n, c]) => state.removeSubscriber('idx', 'col', r.roomId, n, c))));
    assert.deepEqual(await state.getAll(), []);
    assert.equal(await client.exists(state.keys.collection('idx', 'col').nodes, state.keys.collection('idx', 'col').nodeTotals), 0);
    assert.equal(await client.hlen(state.keys.roomIndex), 0);
  });

  it('races removeNode against new subscriptions without losing any', async () => {
    const state = await freshState();
    for (let i = 0; i < 20; i++) await state.addSubscriber(room(`old${i}`), 'dead');
    const adds = Array.from({ length: 100 }, (_, i) => state.addSubscriber(room(`new${i}`), 'alive'));
    await Promise.all([state.removeNode('dead'), ...adds]);
    const snapshot = await state.getCollection('idx', 'col');
    assert.equal(snapshot.rooms.length, 100);
    assert.ok(snapshot.rooms.every((r) => r.total === 1 && r.counts['alive'] === 1));
  });

  it('reports malformed stored JSON as a named error', async () => {
    const state = await freshState();
    await state.addSubscriber(room('r1'), 'n1');
    await client.hset(state.keys.collection('idx', 'col').rooms, 'r1', '{not json');
    await assert.rejects(state.getCollection('idx', 'col'), CorruptStateError);
    await client.hset(state.keys.collection('idx', 'col').rooms, 'r1', '[1]');
    await assert.rejects(state.getCollection('idx', 'col'), CorruptStateError);
    await client.sadd(state.keys.collections, 'garbage');
    await assert.rejects(state.getAll(), CorruptStateError);
    await client.hset(state.keys.roomIndex, 'r9', '{');
    await assert.rejects(state.locateRoom('r9'), CorruptStateError);
    await state.clear(); // a reset still works on corrupt data
    assert.deepEqual(await client.keys(`${state.keys.prefix}:*`), []);
  });

  it('turns script error codes into named errors', async () => {
    const state = await freshState();
    await assert.rejects(state.addSubscriber(room('r1'), 'n1', 0), InvalidCountError);
    const k = state.keys.collection('idx', 'col');
    // Bypass the TypeScript check to prove the Lua-side code is translated.
    await assert.rejects(runScript(client, 'addSubscriber', [k.rooms, k.room('r'), k.version, k.nodes, k.nodeTotals], ['r', 'n', 'x', '{}']), InvalidCountError);
    assert.equal(await client.exists(k.rooms), 0);
  });
});
