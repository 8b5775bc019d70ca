import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel } from '../../src/bus/message-bus';
import type { CollectionRef } from '../../src/state/realtime-store';
import { InterestExchange } from '../../src/sync/interest-exchange';
import type { InterestPage, REALTIME_MESSAGES } from '../../src/sync/messages';
import { PeerInterest } from '../../src/sync/peer-interest';
import { waitFor } from '../harness/wait';

const ref = (collection: string): CollectionRef => ({ index: 'idx', collection });
const listeners = (interest: PeerInterest, peers: Array<{ id: string; incarnation: number }>, collection: string): string[] =>
  interest.listening(peers, ref(collection)).map((peer) => `${peer.id}#${peer.incarnation}`);

describe('PeerInterest: what a view of a peer holds, and when it no longer holds', () => {
  it('a view learnt before this node joined again counts for nothing: the peer may have evicted it and announced collections to its members only', () => {
    let self = 'n1#1';
    const interest = new PeerInterest(() => self);
    const a = { id: 'a', incarnation: 1 };
    assert.equal(interest.merge(a, [ref('c')], true, 'n1#1'), true);
    assert.deepEqual(listeners(interest, [a], 'late'), [], 'known: a does not listen to "late"');
    self = 'n1#2';
    assert.deepEqual(listeners(interest, [a], 'late'), ['a#1'], 'after the rejoin: listening everywhere until asked again');
    assert.deepEqual(interest.unknown([a]), [a]);
    assert.equal(interest.merge(a, [], true, 'n1#1'), false, 'a list answered to the old incarnation comes late: dropped');
    assert.deepEqual(interest.unknown([a]), [a]);
    assert.equal(interest.merge(a, [ref('late')], true, 'n1#2'), true);
    assert.deepEqual(listeners(interest, [a], 'late'), ['a#1']);
    assert.deepEqual(listeners(interest, [a], 'c'), [], 'the old view is gone with the rejoin, not merged');
  });

  it("a peer's newer incarnation speaking first starts a new view: the member's older card counts as listening, a late message of the old one changes nothing", () => {
    const interest = new PeerInterest(() => 'n1#1');
    const b1 = { id: 'b', incarnation: 1 };
    const b2 = { id: 'b', incarnation: 2 };
    interest.merge(b1, [], true, 'n1#1');
    assert.deepEqual(listeners(interest, [b1], 'y'), []);
    // b joined again as b#2, which announces "y" before this node's table holds its new card.
    interest.add(b2, ref('y'));
    assert.deepEqual(listeners(interest, [b1], 'y'), ['b#1'], 'the member is still b#1: not the view of b#2, not the stale one');
    assert.deepEqual(listeners(interest, [b2], 'y'), ['b#2'], 'b#2 counts as listening everywhere until its list is in');
    interest.remove(b1, ref('y'));
    interest.merge(b2, [], true, 'n1#1');
    assert.deepEqual(listeners(interest, [b2], 'y'), ['b#2'], "b#1's late removal did not touch b#2's view");
    assert.deepEqual(listeners(interest, [b2], 'z'), []);
  });

  it('views of peers no longer members are dropped by the next change that finds more views than members', () => {
    const interest = new PeerInterest(() => 'n1#1');
    const peers = ['a', 'b', 'c'].map((id) => ({ id, incarnation: 1 }));
    for (const peer of peers) interest.merge(peer, [], true, 'n1#1');
    const exchange = new InterestExchange(() => ({}) as Channel<typeof REALTIME_MESSAGES>, {
      peers: () => [],
      ackTimeoutMs: 10,
      log: () => undefined,
      stopped: () => false,
      listens: () => true,
      self: () => 'n1#1',
    });
    exchange.added(peers[0] as { id: string; incarnation: number }, ref('c'));
    exchange.added(peers[1] as { id: string; incarnation: number }, ref('c'));
    assert.deepEqual(exchange.recipients(ref('c')), { peers: [], all: false });
    assert.equal(exchange.views, 0);
    interest.keepOnly(peers.slice(1));
    assert.equal(interest.size, 2);
  });
});

describe('InterestExchange: asking again', () => {
  it('after this node joined again, it asks every peer for its list again; a list asked before is not taken', async () => {
    let self = 'n1#1';
    const peer = { id: 'a', incarnation: 1 };
    const asked: string[] = [];
    let answerFirst: (page: InterestPage) => void = () => undefined;
    const channel = {
      request: (_peer: string, _type: string, _body: unknown) => {
        asked.push(self);
        if (asked.length === 1) return new Promise<InterestPage>((resolve) => (answerFirst = resolve));
        return Promise.resolve({ collections: [ref('late')] });
      },
    } as unknown as Channel<typeof REALTIME_MESSAGES>;
    const exchange = new InterestExchange(() => channel, { peers: () => [peer], ackTimeoutMs: 10, log: () => undefined, stopped: () => false, listens: () => true, self: () => self });
    exchange.recipients(ref('late'));
    self = 'n1#2';
    exchange.recipients(ref('late'));
    await waitFor('asked again as n1#2', () => asked.length === 2);
    assert.deepEqual(asked, ['n1#1', 'n1#2']);
    await waitFor("n1#2's list in", () => exchange.recipients(ref('c')).peers.length === 0);
    answerFirst({ collections: [] });
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(exchange.recipients(ref('late')).peers, ['a'], "the answer to n1#1 changed nothing");
  });

  it('a peer that does not record an announcement is asked again after a growing wait, past five attempts, while it is a member and this node listens', async () => {
    const peers = [{ id: 'a', incarnation: 1 }];
    const attempts: number[] = [];
    let refuse = 8;
    const logs: string[] = [];
    const channel = {
      requestEach: async (to: string[]) => {
        attempts.push(Date.now());
        return to.map((peer) => (--refuse >= 0 ? { peer, error: new Error('KPC_BUSY') } : { peer, reply: {} }));
      },
    } as unknown as Channel<typeof REALTIME_MESSAGES>;
    const exchange = new InterestExchange(() => channel, { peers: () => peers, ackTimeoutMs: 2, log: (_level, message) => logs.push(message), stopped: () => false, listens: () => true, self: () => 'n1#1' });
    await exchange.announce(ref('c'));
    await waitFor('recorded at the ninth attempt', () => attempts.length === 9, { timeoutMs: 5_000 });
    const waits = attempts.slice(1).map((at, i) => at - (attempts[i] ?? at));
    assert.ok((waits[7] ?? 0) >= 200, `the waits grow: ${waits.join(', ')} ms`);
    assert.equal(logs.length, 5, 'the first five failures are logged, later ones every twentieth');
    // A peer that left is no longer asked.
    refuse = 100;
    await exchange.announce(ref('d'));
    peers.length = 0;
    const asked = attempts.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(attempts.length, asked);
  });

  it("a collection left and listened to again while a peer refuses keeps one chain of retries, the latest announcement's", async () => {
    const peers = [{ id: 'a', incarnation: 1 }];
    let calls = 0;
    let accept = false;
    let fourth = (): void => undefined;
    const fourthCall = new Promise<void>((resolve) => (fourth = resolve));
    const channel = {
      requestEach: async (to: string[]) => {
        if (++calls === 4) fourth();
        return to.map((peer) => (accept ? { peer, reply: {} } : { peer, error: new Error('KPC_BUSY') }));
      },
    } as unknown as Channel<typeof REALTIME_MESSAGES>;
    const exchange = new InterestExchange(() => channel, { peers: () => peers, ackTimeoutMs: 1, log: () => undefined, stopped: () => false, listens: () => true, self: () => 'n1#1' });
    await exchange.announce(ref('c'));
    // The retries' timers do not hold the process: this one does while the test waits for them.
    const awake = setInterval(() => undefined, 1_000);
    await fourthCall; // the first chain at its fourth attempt: its next retry within 8 ms
    exchange.withdraw(ref('c'));
    await exchange.announce(ref('c'));
    accept = true;
    const before = calls;
    // Past every retry either chain has due (timers fire in the order they are due).
    await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(awake);
    assert.equal(calls - before, 1, "only the latest announcement's retry, which the peer records");
  });
});
