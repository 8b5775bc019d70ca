import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../harness/wait';
import { MAX_BROADCASTS_IN_HAND_PER_SENDER, BroadcastBacklog } from '../../src/bus/broadcast-backlog';

/** Work a test settles by hand. */
function work(): { promise: Promise<void>; done: () => void } {
  let done = (): void => undefined;
  const promise = new Promise<void>((resolve) => (done = resolve));
  return { promise, done };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BroadcastBacklog', () => {
  it('holds a sender once its broadcasts in hand here reach the bound, and reads it again once half are done', async () => {
    const holds: Array<{ peer: string; released: boolean }> = [];
    const backlog = new BroadcastBacklog((peer, until) => {
      const hold = { peer, released: false };
      holds.push(hold);
      void until.then(() => (hold.released = true));
    }, () => undefined);
    const pieces = Array.from({ length: MAX_BROADCASTS_IN_HAND_PER_SENDER + 3 }, () => work());
    for (const [i, piece] of pieces.entries()) {
      backlog.track('a', piece.promise);
      assert.equal(holds.length, i + 1 < MAX_BROADCASTS_IN_HAND_PER_SENDER ? 0 : 1, `after ${i + 1} broadcasts: one hold at the bound, none more`);
    }
    backlog.track('b', work().promise);
    assert.deepEqual(backlog.stats(), { inHand: MAX_BROADCASTS_IN_HAND_PER_SENDER + 4, holds: 1, holding: ['a'], peak: MAX_BROADCASTS_IN_HAND_PER_SENDER + 3, holdsTimedOut: 0, overdue: 0 }, 'another peer is not held for it');
    const readAgainAt = MAX_BROADCASTS_IN_HAND_PER_SENDER / 2;
    const toSettle = pieces.length - readAgainAt;
    for (const piece of pieces.slice(0, toSettle - 1)) piece.done();
    await flush();
    assert.equal(holds[0]?.released, false, `${readAgainAt + 1} still in hand: still held`);
    pieces[toSettle - 1]?.done();
    await flush();
    assert.equal(holds[0]?.released, true, `${readAgainAt} in hand: read again`);
    assert.deepEqual(backlog.stats(), { inHand: readAgainAt + 1, holds: 1, holding: [], peak: MAX_BROADCASTS_IN_HAND_PER_SENDER + 3, holdsTimedOut: 0, overdue: 0 });
  });

  it('a failed handling counts as done', async () => {
    let released = 0;
    const backlog = new BroadcastBacklog((_peer, until) => void until.then(() => released++), () => undefined);
    for (let i = 0; i < MAX_BROADCASTS_IN_HAND_PER_SENDER; i++) backlog.track('a', Promise.reject(new Error('not delivered')));
    await flush();
    assert.equal(released, 1, 'rejected handlings leave the backlog');
    assert.equal(backlog.stats().inHand, 0);
    assert.deepEqual(backlog.stats().holding, []);
  });

  it('a hold lasts at most its bound: handlings that outlast it count as overdue (logged), the sender read again, and held again only once it has the bound in hand anew', async () => {
    const logged: string[] = [];
    let released = 0;
    const backlog = new BroadcastBacklog((_peer, until) => void until.then(() => released++), (message) => logged.push(message), 50);
    const stuck = Array.from({ length: MAX_BROADCASTS_IN_HAND_PER_SENDER }, () => work());
    for (const piece of stuck) backlog.track('a', piece.promise);
    assert.deepEqual(backlog.stats().holding, ['a']);
    await waitFor('the hold to time out', () => released === 1);
    assert.deepEqual(backlog.stats(), { inHand: 0, holds: 1, holding: [], peak: MAX_BROADCASTS_IN_HAND_PER_SENDER, holdsTimedOut: 1, overdue: MAX_BROADCASTS_IN_HAND_PER_SENDER });
    assert.match(logged.join('\n'), /64 broadcasts of a still being handled after 50 ms/);
    // The written-off ones ending later leave the overdue count, not the one in hand.
    for (const piece of stuck) piece.done();
    await flush();
    assert.deepEqual([backlog.stats().inHand, backlog.stats().overdue], [0, 0]);
    backlog.track('a', work().promise);
    assert.deepEqual(backlog.stats().holding, [], 'one new broadcast in hand: not held');
  });
});
