import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { IndexCacheSync } from '../../src/plugin/kuzzle-sync/index-cache-sync';
import { parseIndexSnapshot } from '../../src/plugin/kuzzle-sync/messages';

/**
 * Kuzzle's storage asks over this node's cache (`mine`, which the test may
 * change meanwhile) and Elasticsearch's stats (`stored`: index → its
 * collections); the cache changes asked are recorded in `asked`.
 */
function storage(mine: Map<string, string[]>, stored: Record<string, string[]>, asked: string[]) {
  return {
    ask: async (event: string, ...args: unknown[]): Promise<unknown> => {
      const [index, collection] = args as [string, string | undefined];
      if (event === 'core:storage:public:index:list') return [...mine.keys()];
      if (event === 'core:storage:public:collection:list') return mine.get(index) ?? [];
      if (event === 'core:storage:public:index:stats') return { indexes: Object.entries(stored).map(([name, collections]) => ({ name, collections: collections.map((c) => ({ name: c })) })) };
      if (event.startsWith('core:storage:public:cache:')) asked.push(`${event.slice('core:storage:public:cache:'.length)} ${index}${collection ? `/${collection}` : ''}`);
      return undefined;
    },
  };
}

describe('IndexCacheSync: catch-up', () => {
  it('an index named like an Object property ("constructor") that the peer lacks is judged like any other, and the indexes after it too', async () => {
    const mine: Record<string, string[]> = { constructor: ['c'], shop: ['orders', 'old'] };
    const removed: string[] = [];
    const kuzzle = {
      ask: async (event: string, ...args: unknown[]): Promise<unknown> => {
        if (event === 'core:storage:public:index:list') return Object.keys(mine);
        if (event === 'core:storage:public:collection:list') return mine[String(args[0])] ?? [];
        if (event === 'core:storage:public:index:stats') return { indexes: [{ name: 'shop', collections: [{ name: 'orders' }] }] };
        if (event === 'core:storage:public:cache:remove') removed.push(args.filter((arg) => arg !== undefined).join('/'));
        return undefined;
      },
    };
    // The peer's answer, as it comes off the wire.
    const snapshot = parseIndexSnapshot(JSON.parse('{"indexes":{"shop":["orders"],"__proto__":["x"]}}'));
    assert.ok(snapshot);
    const sync = new IndexCacheSync({ ask: async () => snapshot as never, send: async () => undefined, settled: async () => undefined }, kuzzle, true);
    await sync.catchUp();
    assert.deepEqual(removed.sort(), ['constructor', 'shop/old']);
    assert.deepEqual(Object.keys(snapshot.indexes).sort(), ['__proto__', 'shop'], 'any name is a plain entry');
  });

  it('an index created or deleted live while the peer\'s snapshot travels is left as the live change made it', async () => {
    // This node's cache, changed by live changes while the catch-up runs.
    const mine = new Map<string, string[]>([['old', ['c']], ['shop', ['orders']]]);
    const asked: string[] = [];
    // Elasticsearch: an index without collections does not show in its stats.
    const kuzzle = storage(mine, { shop: ['orders'] }, asked);
    const channel = {
      // The peer read its cache before both changes below: it still has "old", not yet "fresh".
      ask: async () => {
        mine.set('fresh', []);
        await sync.hooks['core:storage:cache:add:after']({ scope: 'public', index: 'fresh' });
        mine.delete('old');
        await sync.handlers['kuzzle:index:remove']({ scope: 'public', index: 'old' }, { id: 'n2', incarnation: 1 });
        return { indexes: { old: ['c'], shop: ['orders'] } } as never;
      },
      send: async () => undefined,
      settled: async () => undefined,
    };
    const sync = new IndexCacheSync(channel, kuzzle, true);
    await sync.catchUp();
    assert.ok(!asked.includes('remove fresh'), `the new empty index is kept (${asked.join(', ')})`);
    assert.ok(!asked.some((call) => call.startsWith('add old')), `the deleted index is not added back (${asked.join(', ')})`);
    assert.ok(asked.includes('add shop/orders'));
  });

  it('a peer behind Elasticsearch (back from a partition itself) brings back no deleted index or collection, and a change heard before a cut-off does not outweigh Elasticsearch', async () => {
    let now = 0;
    const mine = new Map<string, string[]>([['kept', ['gone']]]);
    const asked: string[] = [];
    // Elasticsearch: "deleted" is gone, "recreated" was created again while this node was away, "kept/gone" was deleted.
    const kuzzle = storage(mine, { recreated: ['c'], kept: ['other'] }, asked);
    // The peer asked is behind: it still lists the deleted index, and kept/gone.
    const channel = { ask: async () => ({ indexes: { deleted: ['c'], recreated: ['c'], kept: ['gone', 'other'], empty: [] } }) as never, send: async () => undefined, settled: async () => undefined };
    const sync = new IndexCacheSync(channel, kuzzle, true, () => now);
    // Heard just before this node was cut off: "recreated" deleted (then created again elsewhere), kept/gone created (then deleted elsewhere).
    await sync.handlers['kuzzle:index:remove']({ scope: 'public', index: 'recreated' }, { id: 'n2', incarnation: 1 });
    await sync.handlers['kuzzle:index:add']({ scope: 'public', index: 'kept', collection: 'gone' }, { id: 'n2', incarnation: 1 });
    asked.splice(0);
    now += 6_000;
    await sync.catchUp();
    assert.deepEqual(asked.sort(), ['add empty', 'add kept', 'add kept/other', 'add recreated', 'add recreated/c', 'remove kept/gone']);
  });

  it('an index created just before a catch-up, which the peer asked may not have yet, is kept; one created long before is judged', async () => {
    const mine = new Map<string, string[]>([['recent', []], ['old', []]]);
    const removed: string[] = [];
    const kuzzle = {
      ask: async (event: string, ...args: unknown[]): Promise<unknown> => {
        if (event === 'core:storage:public:index:list') return [...mine.keys()];
        if (event === 'core:storage:public:collection:list') return [];
        if (event === 'core:storage:public:index:stats') return { indexes: [] };
        if (event === 'core:storage:public:cache:remove') removed.push(String(args[0]));
        return undefined;
      },
    };
    let now = 0;
    const channel = { ask: async () => ({ indexes: {} }) as never, send: async () => undefined, settled: async () => undefined };
    const sync = new IndexCacheSync(channel, kuzzle, true, () => now);
    await sync.hooks['core:storage:cache:add:after']({ scope: 'public', index: 'old' });
    now += 60_000;
    await sync.hooks['core:storage:cache:add:after']({ scope: 'public', index: 'recent' });
    now += 1_000;
    await sync.catchUp();
    assert.deepEqual(removed, ['old'], 'the peer lacks both: only the old one was deleted meanwhile');
  });
});
