import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { IndexCacheSync } from '../../src/plugin/kuzzle-sync/index-cache-sync';
import { parseIndexSnapshot } from '../../src/plugin/kuzzle-sync/messages';

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
});
