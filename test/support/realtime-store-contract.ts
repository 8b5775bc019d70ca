import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidCountError } from '../../src/state/errors';
import type { CollectionChange, RealtimeStore } from '../../src/state/realtime-store';
import { roomWeight } from '../../src/state/room-weight';

/** A room of collection `collection` whose filters name it, so that they can be told apart. */
export const room = (roomId: string, collection = 'col', index = 'idx') => ({ index, collection, roomId, filters: [[{ equals: { roomId } }]] });

const sorted = (changes: CollectionChange[]) =>
  changes
    .map((c) => ({ ...c, addedRooms: [...c.addedRooms].sort(), removedRooms: [...c.removedRooms].sort() }))
    .sort((a, b) => a.collection.localeCompare(b.collection));

/**
 * What every {@link RealtimeStore} must do: run against the Redis store
 * (standalone and Redis Cluster, integration tier) and the in-memory double
 * (unit tier), so that the double cannot drift from the real thing.
 */
export function realtimeStoreContract(name: string, makeStore: () => Promise<RealtimeStore>): void {
  describe(`RealtimeStore contract: ${name}`, () => {
    it('adds and removes subscribers, with cluster-wide totals and room creation and removal', async () => {
      const store = await makeStore();
      assert.deepEqual(await store.addSubscriber(room('r1'), 'n1#1'), { total: 1, created: true });
      assert.deepEqual(await store.addSubscriber(room('r1'), 'n1#1', 3, true), { total: 4, created: false });
      assert.deepEqual(await store.addSubscriber(room('r1'), 'n2#1'), { total: 5, created: false });
      assert.equal(await store.countRoom('r1'), 5);
      assert.deepEqual(await store.removeSubscriber(room('r1'), 'r1', 'n1#1', 2), { total: 3, removed: false });
      // Never below 0 for one owner: removing more than it holds removes what it holds.
      assert.deepEqual(await store.removeSubscriber(room('r1'), 'r1', 'n1#1', 10), { total: 1, removed: false });
      assert.deepEqual(await store.removeSubscriber(room('r1'), 'r1', 'n2#1'), { total: 0, removed: true });
      assert.deepEqual(await store.removeSubscriber(room('r1'), 'r1', 'n2#1'), { total: 0, removed: false });
      assert.equal(await store.countRoom('r1'), undefined);
      assert.equal(await store.findRoom('r1'), undefined);
      assert.deepEqual(await store.collections(), []);
    });

    it('finds a room with its collection and filters', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('r1', 'c1'), 'n1#1');
      assert.deepEqual(await store.findRoom('r1'), { index: 'idx', collection: 'c1', filters: room('r1').filters });
      assert.equal(await store.findRoom('nope'), undefined);
      assert.equal(await store.countRoom('nope'), undefined);
    });

    it('rejects counts that are not positive integers', async () => {
      const store = await makeStore();
      for (const count of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(store.addSubscriber(room('r1'), 'n1#1', count), InvalidCountError);
        await assert.rejects(store.removeSubscriber(room('r1'), 'r1', 'n1#1', count), InvalidCountError);
      }
    });

    it('purges one owner only, reporting the rooms left empty', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('shared', 'c1'), 'n1#1');
      await store.addSubscriber(room('shared', 'c1'), 'n2#1');
      await store.addSubscriber(room('alone', 'c1'), 'n1#1', 2);
      await store.addSubscriber(room('other', 'c2'), 'n1#1');
      await store.addSubscriber(room('kept', 'c2'), 'n2#1');
      assert.deepEqual(sorted(await store.purgeOwner('n1#1')), [
        { index: 'idx', collection: 'c1', addedRooms: [], removedRooms: ['alone'] },
        { index: 'idx', collection: 'c2', addedRooms: [], removedRooms: ['other'] },
      ]);
      assert.equal(await store.countRoom('shared'), 1);
      assert.equal(await store.countRoom('kept'), 1);
      assert.equal(await store.countRoom('alone'), undefined);
      assert.deepEqual(await store.purgeOwner('n1#1'), [], 'a second purge changes nothing');
      assert.deepEqual(await store.owners(), ['n2#1']);
    });

    it('an owner written to after its purge by a node that did not know (as holding the room already) is purged where the purge is told to look too', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('r', 'c1'), 'n1#1');
      await store.addSubscriber(room('r', 'c1'), 'n2#1');
      // A peer purges n1#1 while n1 is frozen; n1 wakes and adds a subscriber to a room it believes it holds.
      await store.purgeOwner('n1#1');
      await store.addSubscriber(room('r', 'c1'), 'n1#1', 1, true);
      assert.equal(await store.countRoom('r'), 2);
      // n1 rejoins under a new owner and purges the old one where it holds rooms.
      await store.purgeOwner('n1#1', [{ index: 'idx', collection: 'c1' }]);
      assert.equal(await store.countRoom('r'), 1, 'only n2\'s subscriber left');
      assert.deepEqual(await store.owners(), ['n2#1']);
    });

    it('replaces an owner exactly: creates, updates and removes, sums duplicate ids, 0 means absent', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('stay', 'c1'), 'n1#1', 5);
      await store.addSubscriber(room('go', 'c1'), 'n1#1');
      await store.addSubscriber(room('shared', 'c2'), 'n1#1');
      await store.addSubscriber(room('shared', 'c2'), 'n2#1');
      const changes = await store.replaceOwner('n1#1', [
        { ...room('stay', 'c1'), count: 1 },
        { ...room('new', 'c1'), count: 1 },
        { ...room('new', 'c1'), count: 2 },
        { ...room('zero', 'c1'), count: 0 },
      ]);
      assert.deepEqual(sorted(changes), [{ index: 'idx', collection: 'c1', addedRooms: ['new'], removedRooms: ['go'] }]);
      assert.equal(await store.countRoom('stay'), 1);
      assert.equal(await store.countRoom('new'), 3);
      assert.equal(await store.countRoom('zero'), undefined);
      assert.equal(await store.countRoom('shared'), 1, 'n1 no longer counted in shared, n2 still is');
      const digest = (await store.ownerDigest('n1#1')).sort((a, b) => a.collection.localeCompare(b.collection));
      assert.deepEqual(digest, [{ index: 'idx', collection: 'c1', rooms: 2, subscribers: 4, checksum: roomWeight('stay') + 3 * roomWeight('new') }]);
    });

    it('an abandoned replacement writes nothing more (the owner is about to be purged)', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('kept', 'c1'), 'n1#1');
      const changes = await store.replaceOwner('n1#1', [{ ...room('new', 'c1'), count: 1 }], undefined, () => true);
      assert.deepEqual(changes, []);
      assert.equal(await store.countRoom('kept'), 1);
      assert.equal(await store.countRoom('new'), undefined);
    });

    it('replaces an owner within a scope only', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('a', 'c1'), 'n1#1');
      await store.addSubscriber(room('b', 'c2'), 'n1#1');
      await store.replaceOwner('n1#1', [{ ...room('a2', 'c1'), count: 2 }, { ...room('b2', 'c2'), count: 2 }], [{ index: 'idx', collection: 'c1' }]);
      assert.equal(await store.countRoom('a'), undefined);
      assert.equal(await store.countRoom('a2'), 2);
      assert.equal(await store.countRoom('b'), 1, 'c2 left alone');
      assert.equal(await store.countRoom('b2'), undefined);
    });

    it('lists collections and scans rooms with their filters and totals', async () => {
      const store = await makeStore();
      for (let i = 0; i < 30; i++) await store.addSubscriber(room(`r${i}`, i % 2 ? 'odd' : 'even'), 'n1#1', i + 1);
      const collections = (await store.collections()).map((c) => c.collection).sort();
      assert.deepEqual(collections, ['even', 'odd']);
      const seen: Record<string, number> = {};
      await store.scanRooms({ index: 'idx', collection: 'odd' }, (rooms) => {
        for (const r of rooms) {
          assert.deepEqual(r.filters, room(r.roomId).filters);
          seen[r.roomId] = r.total;
        }
      });
      assert.equal(Object.keys(seen).length, 15);
      assert.equal(seen.r1, 2);
      assert.equal(seen.r29, 30);
      const counted: Record<string, number> = {};
      await store.scanCounts({ index: 'idx', collection: 'odd' }, (rooms) => {
        for (const r of rooms) counted[r.roomId] = r.total;
      });
      assert.deepEqual(counted, seen, 'the same counts without the filters');
    });

    it('counts a room the same with or without its collection given', async () => {
      const store = await makeStore();
      await store.addSubscriber(room('w1'), 'n1#1', 3);
      const where = { index: 'idx', collection: room('w1').collection };
      assert.equal(await store.countRoom('w1', where), 3);
      await store.removeSubscriber(room('w1'), 'w1', 'n1#1', 3);
      assert.equal(await store.countRoom('w1', where), undefined);
      assert.equal(await store.countRoom('w1'), undefined);
    });

    it('tells which rooms are missing, in one call', async () => {
      const store = await makeStore();
      for (let i = 0; i < 5; i++) await store.addSubscriber(room(`m${i}`), 'n1#1');
      await store.removeSubscriber(room('m1'), 'm1', 'n1#1');
      assert.deepEqual(await store.missingRooms([]), []);
      assert.deepEqual((await store.missingRooms(['m0', 'm1', 'm2', 'never'])).sort(), ['m1', 'never']);
    });

    it('keeps ids containing ":", "{", "}" and "#" apart', async () => {
      const store = await makeStore();
      const odd = ['a:b', '{x}', 'y}', '{', 'h#1'];
      for (const id of odd) await store.addSubscriber({ ...room(id), index: `i:${id}`, collection: `c{${id}}` }, `n{1}#1`);
      for (const id of odd) assert.equal(await store.countRoom(id), 1);
      assert.equal((await store.purgeOwner('n{1}#1')).length, odd.length);
    });

    it('changes made at once (one batch for the Redis store) each get the count right after them, in order', async () => {
      const store = await makeStore();
      const adds = await Promise.all([
        ...Array.from({ length: 4 }, () => store.addSubscriber(room('same'), 'n1#1')),
        store.addSubscriber(room('elsewhere', 'c2'), 'n1#1'),
      ]);
      assert.deepEqual(adds, [
        { total: 1, created: true },
        { total: 2, created: false },
        { total: 3, created: false },
        { total: 4, created: false },
        { total: 1, created: true },
      ]);
      const removals = await Promise.all([
        ...Array.from({ length: 4 }, () => store.removeSubscriber(room('same'), 'same', 'n1#1')),
        store.removeSubscriber(room('elsewhere', 'c2'), 'elsewhere', 'n1#1'),
      ]);
      assert.deepEqual(removals.map((r) => [r.total, r.removed]), [[3, false], [2, false], [1, false], [0, true], [0, true]]);
      assert.deepEqual(await store.collections(), []);
      assert.deepEqual(await store.owners(), []);
    });

    it('an owner\'s changes apply in the order they were made: a removal never overtakes the addition before it', async () => {
      const store = await makeStore();
      const [added, removed, again] = await Promise.all([
        store.addSubscriber(room('quick'), 'n1#1'),
        store.removeSubscriber(room('quick'), 'quick', 'n1#1'),
        store.addSubscriber(room('quick'), 'n1#1'),
      ]);
      assert.deepEqual([added, removed, again], [{ total: 1, created: true }, { total: 0, removed: true }, { total: 1, created: true }]);
      assert.equal(await store.countRoom('quick'), 1);
      assert.deepEqual(await store.collections(), [{ index: 'idx', collection: 'col' }]);
    });

    it('keeps exact counts under 300 concurrent changes from three owners', async () => {
      const store = await makeStore();
      const owners = ['a#1', 'b#1', 'c#1'];
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 100; i++) {
        for (const owner of owners) work.push(store.addSubscriber(room(`r${i % 10}`), owner, 2));
      }
      await Promise.all(work);
      await Promise.all(owners.map((owner) => Promise.all(Array.from({ length: 10 }, (_, i) => store.removeSubscriber(room(`r${i}`), `r${i}`, owner)))));
      for (let i = 0; i < 10; i++) assert.equal(await store.countRoom(`r${i}`), 3 * (20 - 1));
    });

    it('purges an owner holding 2,000 rooms of one collection (in batches) while another owner subscribes', async () => {
      const store = await makeStore();
      await store.replaceOwner('big#1', Array.from({ length: 2000 }, (_, i) => ({ ...room(`big${i}`), count: 1 })));
      const racing = Array.from({ length: 50 }, (_, i) => store.addSubscriber(room(`big${i * 40}`), 'small#1'));
      const [changes] = await Promise.all([store.purgeOwner('big#1'), Promise.all(racing)]);
      const removed = changes.reduce((sum, c) => sum + c.removedRooms.length, 0);
      // A racing subscription may land before its room is purged (kept) or after (created again).
      assert.ok(removed >= 2000 - 50 && removed <= 2000, `${removed} rooms removed`);
      let left = 0;
      await store.scanRooms({ index: 'idx', collection: 'col' }, (rooms) => {
        left += rooms.length;
      });
      assert.equal(left, 50);
      for (let i = 0; i < 50; i++) assert.equal(await store.countRoom(`big${i * 40}`), 1, `room big${i * 40} kept by its other owner`);
      assert.deepEqual(await store.owners(), ['small#1']);
    });
  });
}
