import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { GlobalIndex } from '../../src/state/global-index';
import { StateKeys } from '../../src/state/keys';
import { SubscriberWrites } from '../../src/state/subscriber-writes';

describe('SubscriberWrites', () => {
  it('after the script, the rooms it created are listed again (a deletion of the same ids elsewhere may have unlisted them meanwhile); then those it deleted are unlisted', async () => {
    const k = new StateKeys('kpc').collection('idx', 'col');
    const calls: string[] = [];
    const index: Pick<GlobalIndex, 'addAll' | 'relistCreated' | 'removeRooms' | 'removeOwnerCollection'> = {
      addAll: async (_owner, entries) => void calls.push(`add ${entries.flatMap((entry) => entry.roomIds).join(',')}`),
      relistCreated: async (_k, roomIds, owner) => void calls.push(`relist ${roomIds.join(',')} of ${owner}`),
      removeRooms: async (_k, roomIds) => void calls.push(`remove ${roomIds.join(',')}`),
      removeOwnerCollection: async () => void calls.push('removeOwnerCollection'),
    };
    // Per change: total, created, removed; first the owner's subscribers left in the collection.
    const writes = new SubscriberWrites(index, async () => {
      calls.push('script');
      return [2, 1, 1, 0, 3, 0, 0, 0, 0, 1];
    });
    const results = await Promise.all([
      writes.write({ k, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k, owner: 'n1#1', roomId: 'old', delta: 1, json: '{}', indexed: true }),
      writes.write({ k, owner: 'n1#1', roomId: 'gone', delta: -1, json: '', indexed: true }),
    ]);
    assert.deepEqual(results, [
      { total: 1, created: true, removed: false },
      { total: 3, created: false, removed: false },
      { total: 0, created: false, removed: true },
    ]);
    assert.deepEqual(calls, ['add new', 'script', 'relist new of n1#1', 'remove gone']);
  });

  it('an index write that fails: the collections with new rooms fail without their script; the others are written', async () => {
    const keys = new StateKeys('kpc');
    const a = keys.collection('idx', 'a');
    const b = keys.collection('idx', 'b');
    const scripts: string[] = [];
    const index: Pick<GlobalIndex, 'addAll' | 'relistCreated' | 'removeRooms' | 'removeOwnerCollection'> = {
      addAll: async () => {
        throw new Error('Connection is closed.');
      },
      relistCreated: async () => undefined,
      removeRooms: async () => undefined,
      removeOwnerCollection: async () => undefined,
    };
    const writes = new SubscriberWrites(index, async (_name, k) => {
      scripts.push(k.collection);
      return [1, 0, 0, 1];
    });
    const [subscribed, unsubscribed] = await Promise.allSettled([
      writes.write({ k: a, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k: b, owner: 'n1#1', roomId: 'old', delta: -1, json: '', indexed: true }),
    ]);
    assert.equal(subscribed?.status, 'rejected');
    assert.equal(unsubscribed?.status, 'fulfilled');
    assert.deepEqual(scripts, ['b'], 'no script where the index entries are missing');
  });
});
