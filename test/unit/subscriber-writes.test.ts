import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { GlobalIndex } from '../../src/state/global-index';
import { StateKeys } from '../../src/state/keys';
import { SubscriberWrites } from '../../src/state/subscriber-writes';

type IndexDouble = Pick<GlobalIndex, 'list' | 'addAll' | 'removeRooms' | 'removeOwnerCollection' | 'checkLater'>;

/** An index that records its calls; `fail` names the methods that reject. */
function recordingIndex(calls: string[], fail: ReadonlyArray<keyof IndexDouble> = []): IndexDouble {
  const failing = (name: keyof IndexDouble): void => {
    if (fail.includes(name)) throw new Error('Connection is closed.');
  };
  return {
    list: async (owner, ks) => {
      calls.push(`list ${ks.map((k) => k.collection).join(',')} for ${owner}`);
      failing('list');
    },
    addAll: async (owner, entries) => {
      calls.push(`entries ${entries.flatMap((entry) => entry.roomIds).join(',')} of ${owner}`);
      failing('addAll');
    },
    removeRooms: async (_k, roomIds) => {
      calls.push(`remove ${roomIds.join(',')}`);
      failing('removeRooms');
    },
    removeOwnerCollection: async (k) => void calls.push(`unlist ${k.collection}`),
    checkLater: (_k, roomIds) => void calls.push(`check later ${roomIds.join(',')}`),
  };
}

describe('SubscriberWrites', () => {
  it('lists the collection before the script, writes the entries of the rooms it subscribed the owner to after it (a deletion of the same ids elsewhere then finds the room, or comes first), then unlists those it deleted', async () => {
    const k = new StateKeys('kpc').collection('idx', 'col');
    const calls: string[] = [];
    // Per change: total, created, removed; first the owner's subscribers left in the collection.
    const writes = new SubscriberWrites(recordingIndex(calls), async () => {
      calls.push('script');
      return [2, 1, 1, 0, 3, 0, 0, 0, 0, 1, 1, 1, 0];
    });
    const results = await Promise.all([
      writes.write({ k, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k, owner: 'n1#1', roomId: 'old', delta: 1, json: '{}', indexed: true }),
      writes.write({ k, owner: 'n1#1', roomId: 'gone', delta: -1, json: '', indexed: true }),
      // Counted by this owner before, yet created: deleted meanwhile (a purge), its entry is written again.
      writes.write({ k, owner: 'n1#1', roomId: 'again', delta: 1, json: '{}', indexed: true }),
    ]);
    assert.deepEqual(results, [
      { total: 1, created: true, removed: false },
      { total: 3, created: false, removed: false },
      { total: 0, created: false, removed: true },
      { total: 1, created: true, removed: false },
    ]);
    assert.deepEqual(calls, ['list col for n1#1', 'script', 'entries new,again of n1#1', 'remove gone']);
  });

  it('a listing that fails: the subscriptions fail without their script, and as many removals after them from their rooms; the other changes are written', async () => {
    const keys = new StateKeys('kpc');
    const a = keys.collection('idx', 'a');
    const b = keys.collection('idx', 'b');
    const scripts: string[] = [];
    const writes = new SubscriberWrites(recordingIndex([], ['list']), async (k, _owner, args) => {
      scripts.push(`${k.collection}: ${args.filter((_, i) => i % 4 === 0).join(',')}`);
      return k === a ? [1, 0, 0, 1, 0, 0, 1, 0, 0, 1] : [1, 0, 0, 1];
    });
    const results = await Promise.allSettled([
      writes.write({ k: a, owner: 'n1#1', roomId: 'left', delta: -1, json: '', indexed: true }),
      writes.write({ k: a, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k: a, owner: 'n1#1', roomId: 'new', delta: -1, json: '', indexed: true }),
      writes.write({ k: a, owner: 'n1#1', roomId: 'other', delta: -1, json: '', indexed: true }),
      writes.write({ k: b, owner: 'n1#1', roomId: 'old', delta: -1, json: '', indexed: true }),
      // Another connection's removal from that room: the refused subscription's undo came first.
      writes.write({ k: a, owner: 'n1#1', roomId: 'new', delta: -1, json: '', indexed: true }),
    ]);
    assert.deepEqual(results.map((result) => result.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    assert.deepEqual(scripts.sort(), ['a: left,other,new', 'b: old'], 'no script for the subscription, nor for one removal after it from its room');
  });

  it('a clean-up that fails (the entries of deleted rooms) leaves them stale: the changes themselves succeed', async () => {
    const k = new StateKeys('kpc').collection('idx', 'col');
    const writes = new SubscriberWrites(recordingIndex([], ['removeRooms']), async () => [1, 1, 1, 0, 0, 0, 1]);
    const results = await Promise.all([
      writes.write({ k, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k, owner: 'n1#1', roomId: 'gone', delta: -1, json: '', indexed: true }),
    ]);
    assert.deepEqual(results, [
      { total: 1, created: true, removed: false },
      { total: 0, created: false, removed: true },
    ]);
  });

  it('entries that cannot be written fail the subscriptions that needed them (not live cluster-wide), not the unsubscriptions of the batch, whose index entries still go', async () => {
    const keys = new StateKeys('kpc');
    const a = keys.collection('idx', 'a');
    const b = keys.collection('idx', 'b');
    const calls: string[] = [];
    const writes = new SubscriberWrites(recordingIndex(calls, ['addAll']), async (k) => (k === a ? [1, 1, 1, 0, 0, 0, 1] : [0, 0, 0, 1]));
    const [subscribed, leftBeside, unsubscribed] = await Promise.allSettled([
      writes.write({ k: a, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k: a, owner: 'n1#1', roomId: 'gone', delta: -1, json: '', indexed: true }),
      writes.write({ k: b, owner: 'n1#1', roomId: 'old', delta: -1, json: '', indexed: true }),
    ]);
    assert.equal(subscribed?.status, 'rejected');
    assert.deepEqual(leftBeside, { status: 'fulfilled', value: { total: 0, created: false, removed: true } });
    assert.deepEqual(unsubscribed, { status: 'fulfilled', value: { total: 0, created: false, removed: true } });
    assert.deepEqual(calls.sort(), ['entries new of n1#1', 'list a for n1#1', 'remove gone', 'remove old', 'unlist b']);
  });

  it('a script that fails (its reply lost, or some of its calls made): its callers get the error, and every room it may have created its entry', async () => {
    const k = new StateKeys('kpc').collection('idx', 'col');
    const calls: string[] = [];
    const writes = new SubscriberWrites(recordingIndex(calls), async () => {
      throw new Error('Command timed out');
    });
    const results = await Promise.allSettled([
      writes.write({ k, owner: 'n1#1', roomId: 'new', delta: 1, json: '{}', indexed: false }),
      writes.write({ k, owner: 'n1#1', roomId: 'old', delta: 1, json: '{}', indexed: true }),
      writes.write({ k, owner: 'n1#1', roomId: 'gone', delta: -1, json: '', indexed: true }),
    ]);
    assert.deepEqual(results.map((result) => result.status), ['rejected', 'rejected', 'rejected']);
    assert.deepEqual(calls, ['list col for n1#1', 'entries new,old of n1#1', 'check later gone'], 'the room it may have deleted keeps no entry for good');
  });

  it('a collection written in several calls: a failing call fails its changes and those after it, not those of the calls before it', async () => {
    const k = new StateKeys('kpc').collection('idx', 'col');
    const calls: string[] = [];
    let call = 0;
    const writes = new SubscriberWrites(recordingIndex(calls), async (_k, _owner, args) => {
      if (++call === 2) throw new Error('Command timed out');
      const changes = args.length / 4;
      return [changes, ...Array.from({ length: changes }, () => [1, 1, 0]).flat()];
    });
    const changes = Array.from({ length: 1_200 }, (_, i) => writes.write({ k, owner: 'n1#1', roomId: `r${i}`, delta: 1, json: '{}', indexed: false }));
    const results = await Promise.allSettled(changes);
    assert.equal(call, 2, 'the third call is not sent');
    assert.deepEqual(
      [results.slice(0, 500), results.slice(500)].map((part) => [...new Set(part.map((result) => result.status))]),
      [['fulfilled'], ['rejected']],
    );
    const entries = calls.find((c) => c.startsWith('entries')) ?? '';
    assert.equal(entries.split(',').length, 1_000, 'the rooms of the first call, and those the failed one may have created');
  });
});
