import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_WAITING_CHANGES_PER_PEER, PeerBacklog } from '../../src/sync/peer-backlog';

/** Work a test settles by hand. */
function work(): { promise: Promise<void>; done: () => void } {
  let done = (): void => undefined;
  const promise = new Promise<void>((resolve) => (done = resolve));
  return { promise, done };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PeerBacklog', () => {
  it('holds a peer once its changes waiting here reach the bound, and reads it again once half are done', async () => {
    const holds: Array<{ peer: string; released: boolean }> = [];
    const backlog = new PeerBacklog((peer, until) => {
      const hold = { peer, released: false };
      holds.push(hold);
      void until.then(() => (hold.released = true));
    });
    const pieces = Array.from({ length: MAX_WAITING_CHANGES_PER_PEER + 3 }, () => work());
    for (const [i, piece] of pieces.entries()) {
      backlog.track('a', piece.promise);
      assert.equal(holds.length, i + 1 < MAX_WAITING_CHANGES_PER_PEER ? 0 : 1, `after ${i + 1} changes: one hold at the bound, none more`);
    }
    backlog.track('b', work().promise);
    assert.deepEqual(backlog.stats(), { waiting: MAX_WAITING_CHANGES_PER_PEER + 4, holds: 1, holding: ['a'] }, 'another peer is not held for it');
    const readAgainAt = MAX_WAITING_CHANGES_PER_PEER / 2;
    const toSettle = pieces.length - readAgainAt;
    for (const piece of pieces.slice(0, toSettle - 1)) piece.done();
    await flush();
    assert.equal(holds[0]?.released, false, `${readAgainAt + 1} still waiting: still held`);
    pieces[toSettle - 1]?.done();
    await flush();
    assert.equal(holds[0]?.released, true, `${readAgainAt} waiting: read again`);
    assert.deepEqual(backlog.stats(), { waiting: readAgainAt + 1, holds: 1, holding: [] });
  });

  it('a failed change counts as done; releaseAll reads every held peer again', async () => {
    let released = 0;
    const backlog = new PeerBacklog((_peer, until) => void until.then(() => released++));
    for (let i = 0; i < MAX_WAITING_CHANGES_PER_PEER; i++) backlog.track('a', Promise.reject(new Error('not delivered')));
    await flush();
    assert.equal(released, 1, 'rejected changes leave the backlog');
    assert.equal(backlog.stats().waiting, 0);
    for (let i = 0; i < MAX_WAITING_CHANGES_PER_PEER; i++) backlog.track('b', work().promise);
    assert.deepEqual(backlog.stats().holding, ['b']);
    backlog.releaseAll();
    await flush();
    assert.equal(released, 2);
    assert.deepEqual(backlog.stats().holding, []);
  });
});
