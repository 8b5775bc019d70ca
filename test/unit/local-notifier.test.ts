import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KuzzleLike, KuzzleRequestLike } from '../../src/plugin/kuzzle-types';
import { LocalNotifier } from '../../src/plugin/local-notifier';
import type { ChangeNotice } from '../../src/sync/realtime-host';

type Source = Record<string, unknown>;

interface Dispatch {
  rooms: string[];
  scope: string;
  action: string;
  content: unknown;
  fromCluster: boolean;
}

/** One node's Koncorde (rooms as predicates), deliveries and emitted events, over a cache shared by every node. */
class NodeDouble {
  readonly rooms = new Map<string, (source: Source) => boolean>();
  readonly dispatched: Dispatch[] = [];
  readonly emitted: string[] = [];
  readonly notifier: LocalNotifier;

  constructor(id: string, readonly cache: Map<string, string>) {
    const koncorde = {
      exists: () => this.rooms.size > 0,
      test: (_index: string, _collection: string, data: unknown) =>
        [...this.rooms].filter(([, matches]) => matches(data as Source)).map(([roomId]) => roomId),
    };
    const ask = async (event: string, ...args: unknown[]): Promise<unknown> => {
      switch (event) {
        case 'core:cache:internal:mget':
          return (args[0] as string[]).map((key) => cache.get(key) ?? null);
        case 'core:cache:internal:store':
          cache.set(args[0] as string, args[1] as string);
          return undefined;
        case 'core:cache:internal:del':
          for (const key of args[0] as string[]) cache.delete(key);
          return undefined;
        case 'core:realtime:document:dispatch': {
          const [rooms, , scope, action, content, options] = args as [string[], unknown, string, string, unknown, { fromCluster: boolean }];
          this.dispatched.push({ rooms, scope, action, content, fromCluster: options.fromCluster });
          return undefined;
        }
        default:
          throw new Error(`unexpected ask ${event}`);
      }
    };
    const kuzzle = { id, koncorde, ask, emit: (event: string) => void this.emitted.push(event), config: { limits: { subscriptionDocumentTTL: 1000 } } };
    this.notifier = new LocalNotifier(kuzzle as unknown as KuzzleLike);
  }

  /** Runs a change as its origin (`origin`) or as a peer that received it. */
  apply(change: ChangeNotice, origin: boolean, body: Source | null = null): Promise<void> | undefined {
    const request = {
      input: { resource: { index: change.index, collection: change.collection, _id: undefined }, body },
      serialize: () => ({ data: {}, options: {} }),
    } as unknown as KuzzleRequestLike;
    return this.notifier.notify(change, () => request, origin);
  }

  take(): Array<Omit<Dispatch, 'content'>> {
    return this.dispatched.splice(0).map(({ rooms, scope, action, fromCluster }) => ({ rooms, scope, action, fromCluster }));
  }
}

const on = (source: Source): boolean => source.status === 'on';
const change = (action: ChangeNotice['action'], documents: Source[]): ChangeNotice => ({
  index: 'idx',
  collection: 'col',
  action,
  request: { data: {}, options: {} },
  documents,
});
/** A change seen by every node: the origin first, as the origin does. */
async function everywhere(origin: NodeDouble, others: NodeDouble[], notice: ChangeNotice): Promise<void> {
  await origin.apply(notice, true);
  for (const node of others) await node.apply(notice, false);
}

/** Two nodes over one cache, each with one room matching documents whose status is on. */
function twoNodes(roomOfA: string, roomOfB: string): { cache: Map<string, string>; a: NodeDouble; b: NodeDouble } {
  const cache = new Map<string, string>();
  const [a, b] = [new NodeDouble('a', cache), new NodeDouble('b', cache)];
  a.rooms.set(roomOfA, on);
  b.rooms.set(roomOfB, on);
  return { cache, a, b };
}

describe('LocalNotifier: Kuzzle 2.10\'s notifier on one node\'s filters', () => {
  it('each node remembers its own rooms: an update through one node tells every node\'s subscribers that the document left', async () => {
    const { cache, a, b } = twoNodes('room-a', 'room-b');
    await everywhere(a, [b], change('create', [{ _id: 'd1', _source: { status: 'on' } }]));
    assert.deepEqual(a.take(), [{ rooms: ['room-a'], scope: 'in', action: 'create', fromCluster: false }]);
    assert.deepEqual(b.take(), [{ rooms: ['room-b'], scope: 'in', action: 'create', fromCluster: true }]);
    assert.equal(cache.size, 2, 'one list per node');
    await everywhere(b, [a], change('update', [{ _id: 'd1', _source: { status: 'off' }, _updatedFields: ['status'] }]));
    assert.deepEqual(b.take(), [{ rooms: ['room-b'], scope: 'out', action: 'update', fromCluster: false }]);
    assert.deepEqual(a.take(), [{ rooms: ['room-a'], scope: 'out', action: 'update', fromCluster: true }], 'a shared list would have held room-b only');
    assert.equal(cache.size, 0, 'matching nothing, the lists are deleted');
  });

  it('only the origin emits core:notify:document; receivers deliver to cluster channels only', async () => {
    const { a, b } = twoNodes('room', 'room');
    await everywhere(a, [b], change('create', [{ _id: 'd1', _source: { status: 'on' } }]));
    assert.deepEqual([a.emitted, b.emitted], [['core:notify:document'], []]);
  });

  it('no filter on the collection: nothing done at all, no cache read', async () => {
    const cache = new Map<string, string>([['unrelated', '[]']]);
    const node = new NodeDouble('a', cache);
    assert.equal(node.apply(change('update', [{ _id: 'd1', _source: {} }]), false), undefined);
    assert.deepEqual(node.take(), []);
    assert.equal(cache.size, 1);
  });

  it('a node that held no filter while a change passed never reads its older lists again (no stray "out")', async () => {
    const node = new NodeDouble('a', new Map());
    node.rooms.set('room', on);
    await node.apply(change('create', [{ _id: 'd1', _source: { status: 'on' } }]), false);
    node.rooms.clear();
    assert.equal(node.apply(change('update', [{ _id: 'd1', _source: { status: 'on', again: true } }]), false), undefined);
    node.rooms.set('room', on);
    node.take();
    await node.apply(change('update', [{ _id: 'd1', _source: { status: 'off' } }]), false);
    assert.deepEqual(node.take(), [], 'the list written before the gap in interest is not read');
  });

  it('a node that stopped listening to a collection (its last room gone: peers no longer send it its changes) never reads its older lists again', async () => {
    const node = new NodeDouble('a', new Map());
    node.rooms.set('room', on);
    await node.apply(change('create', [{ _id: 'd1', _source: { status: 'on' } }]), false);
    // The client leaves; d1 then leaves the filter on a peer, which no longer sends the change here.
    node.rooms.clear();
    node.notifier.forget('idx', 'col');
    node.rooms.set('room', on);
    node.take();
    await node.apply(change('update', [{ _id: 'd1', _source: { status: 'off' } }]), false);
    assert.deepEqual(node.take(), [], 'no "out": d1 had left the filter before the client came back, as one Kuzzle knows');
  });

  it('publish: "in" with the request body, nothing remembered', async () => {
    const cache = new Map<string, string>();
    const node = new NodeDouble('a', cache);
    node.rooms.set('room', on);
    await node.apply(change('publish', []), false, { status: 'on' });
    assert.deepEqual(node.dispatched, [{ rooms: ['room'], scope: 'in', action: 'publish', content: { _id: undefined, _source: { status: 'on' } }, fromCluster: true }]);
    assert.equal(cache.size, 0);
  });

  it('delete: "out" to the rooms the deleted source matches, its list dropped', async () => {
    const cache = new Map<string, string>();
    const node = new NodeDouble('a', cache);
    node.rooms.set('room', on);
    await node.apply(change('create', [{ _id: 'd1', _source: { status: 'on' } }]), true);
    node.take();
    await node.apply(change('delete', [{ _id: 'd1', _source: { status: 'on' } }]), true);
    assert.deepEqual(node.dispatched, [{ rooms: ['room'], scope: 'out', action: 'delete', content: { _id: 'd1' }, fromCluster: false }]);
    assert.equal(cache.size, 0);
  });

  it('write: a created document notifies "create", a replaced one "replace" with the rooms it left', async () => {
    const node = new NodeDouble('a', new Map());
    node.rooms.set('on', on);
    node.rooms.set('off', (source) => source.status === 'off');
    await node.apply(change('write', [{ _id: 'd1', _source: { status: 'on' }, created: true }]), true);
    await node.apply(change('write', [{ _id: 'd1', _source: { status: 'off' }, created: false }]), true);
    assert.deepEqual(node.take(), [
      { rooms: ['on'], scope: 'in', action: 'create', fromCluster: false },
      { rooms: ['off'], scope: 'in', action: 'replace', fromCluster: false },
      { rooms: ['on'], scope: 'out', action: 'replace', fromCluster: false },
    ]);
  });

  it('a document without its source (an upsert that created it) is matched on the request body', async () => {
    const node = new NodeDouble('a', new Map());
    node.rooms.set('room', on);
    await node.apply(change('create', [{ _id: 'd1' }]), true, { status: 'on' });
    assert.deepEqual(node.take(), [{ rooms: ['room'], scope: 'in', action: 'create', fromCluster: false }]);
  });
});

describe('LocalNotifier: tags of collections', () => {
  it('collections whose filters all left do not keep their tags for good: bounded, while one still listened to, or left less than the lists\' TTL ago, keeps its own', async () => {
    const live = new Set<string>();
    const stored: string[] = [];
    let now = 0;
    const koncorde = { exists: (_index: string, collection: string) => live.has(collection), test: (_index: string, collection: string) => [`room-${collection}`] };
    const ask = async (event: string, ...args: unknown[]): Promise<unknown> => {
      if (event === 'core:cache:internal:mget') return (args[0] as string[]).map(() => null);
      if (event === 'core:cache:internal:store') stored.push(args[0] as string);
      return undefined;
    };
    // Lists expire after 1,000 ms (Kuzzle's cache takes the TTL in milliseconds).
    const kuzzle = { id: 'a', koncorde, ask, emit: () => undefined, config: { limits: { subscriptionDocumentTTL: 1000 } } };
    const notifier = new LocalNotifier(kuzzle as unknown as KuzzleLike, () => now);
    const created = (collection: string) => {
      const request = { input: { resource: { index: 'idx', collection }, body: null }, serialize: () => ({ data: {}, options: {} }) } as unknown as KuzzleRequestLike;
      return notifier.notify({ index: 'idx', collection, action: 'create', documents: [{ _id: 'd1', _source: {} }] }, () => request, true);
    };
    const tagsOf = (collection: string) => stored.filter((key) => key.startsWith(`{notif/idx/${collection}}`));
    live.add('kept');
    await created('kept');
    // Clients subscribe in ever new collections, write once, and leave, one every 10 ms.
    for (let i = 0; i < 1000; i++) {
      now += 10;
      live.add(`c${i}`);
      await created(`c${i}`);
      live.delete(`c${i}`);
    }
    assert.ok(notifier.taggedCollections <= 256, `${notifier.taggedCollections} tags kept`);
    await created('kept');
    const [keptBefore, keptAfter] = tagsOf('kept');
    assert.equal(keptBefore, keptAfter, 'a collection still listened to keeps its tag: its lists are still read');
    // More new collections, no time passing, until a sweep runs (the count drops).
    for (let i = 0, size = notifier.taggedCollections; notifier.taggedCollections >= size; i++) {
      assert.ok(i < 1000, 'a sweep ran');
      size = notifier.taggedCollections;
      live.add(`n${i}`);
      await created(`n${i}`);
      live.delete(`n${i}`);
    }
    // The last collection of the loop left 0 ms ago: subscribers coming back still read its lists, as on one Kuzzle.
    live.add('c999');
    await created('c999');
    const [leftBefore, leftAfter] = tagsOf('c999');
    assert.equal(leftBefore, leftAfter);
  });
});
