import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Koncorde from 'koncorde';
import { KuzzleRealtimeHost } from '../../src/plugin/kuzzle-realtime-host';
import type { KuzzleLike, PluginContextLike } from '../../src/plugin/kuzzle-types';
import type { LocalNotifier } from '../../src/plugin/local-notifier';

/** A host over a real Koncorde 3, as Kuzzle 2.10 builds it; nothing else is used by storeFilter. */
function hostOver(koncorde: Koncorde): KuzzleRealtimeHost {
  const kuzzle = { koncorde } as unknown as KuzzleLike;
  return new KuzzleRealtimeHost(kuzzle, {} as PluginContextLike, {} as LocalNotifier);
}

const FILTERS: unknown[] = [
  {},
  { equals: { a: 1 } },
  { range: { age: { gte: 18, lt: 65 } } },
  { regexp: { name: { value: '^a.*z$', flags: 'i' } } },
  { geoDistance: { pos: { lat: 1.5, lon: 2 }, distance: '10km' } },
  { bool: { must: [{ equals: { a: 1 } }], must_not: [{ equals: { b: 2 } }], should: [{ exists: 'c' }, { exists: 'd' }] } },
];

describe('KuzzleRealtimeHost.storeFilter', () => {
  it('takes a room read from Redis (its filters after a trip through JSON) whose id is the hash of its collection and filters', async () => {
    const koncorde = new Koncorde();
    const host = hostOver(koncorde);
    for (const filter of FILTERS) {
      const { id, normalized } = await koncorde.normalize('idx', 'col', filter);
      host.storeFilter({ index: 'idx', collection: 'col', roomId: id, filters: JSON.parse(JSON.stringify(normalized)) });
      assert.ok(koncorde.hasFilter(id), JSON.stringify(filter));
    }
  });

  it('refuses a room altered in Redis: another collection, or other filters, under its id', async () => {
    const koncorde = new Koncorde();
    const host = hostOver(koncorde);
    const room = await koncorde.normalize('idx', 'public', { equals: { a: 1 } });
    const other = await koncorde.normalize('idx', 'public', { exists: 'secret' });
    assert.throws(() => host.storeFilter({ index: 'idx', collection: 'private', roomId: room.id, filters: room.normalized }), /KPC_BAD_FILTER|hash to another id/);
    assert.throws(() => host.storeFilter({ index: 'idx', collection: 'public', roomId: room.id, filters: other.normalized }), /hash to another id/);
    assert.equal(koncorde.hasFilter(room.id), false);
  });
});

describe('KuzzleRealtimeHost: match lists as the node starts and stops listening to a collection', () => {
  it('a new tag when peers start sending; on stop, only when no filter of the node is left there', async () => {
    const koncorde = new Koncorde();
    const forgotten: string[] = [];
    const notifier = { forget: (index: string, collection: string) => void forgotten.push(`${index}/${collection}`) } as unknown as LocalNotifier;
    const host = new KuzzleRealtimeHost({ koncorde } as unknown as KuzzleLike, {} as PluginContextLike, notifier);
    const ref = { index: 'idx', collection: 'col' };
    host.startedListening(ref);
    assert.deepEqual(forgotten, ['idx/col']);
    // A filter that does not propagate stays: it still hears this node's own changes.
    const { id, normalized } = await koncorde.normalize('idx', 'col', { equals: { a: 1 } });
    koncorde.store({ index: 'idx', collection: 'col', normalized, id });
    host.stoppedListening(ref);
    assert.deepEqual(forgotten, ['idx/col']);
    koncorde.remove(id);
    host.stoppedListening(ref);
    assert.deepEqual(forgotten, ['idx/col', 'idx/col']);
  });
});
