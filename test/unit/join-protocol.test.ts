import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel } from '../../src/bus/message-bus';
import type { CardStore } from '../../src/membership/card-store';
import { JoinProtocol } from '../../src/membership/join-protocol';
import { MemberTable } from '../../src/membership/member-table';
import type { MEMBERSHIP_MESSAGES } from '../../src/membership/messages';
import type { NodeCard } from '../../src/membership/node-card';
import type { EmitMembershipEvent } from '../../src/membership/peer';
import { SelfCard } from '../../src/membership/self-card';
import { cardOf, recordedLinks } from '../support/membership-doubles';


/** What the double channel does with a request: `join` answers (or throws), per peer. */
type JoinAnswer = (peer: string) => Promise<{ card: NodeCard }>;

/** Links that record what they were asked; cards in a map; events recorded. */
function joinProtocol(discoverTimeoutMs: number, answerJoin: JoinAnswer = () => Promise.reject(new Error('no channel'))) {
  const links = recordedLinks();
  const { linked } = links;
  const registered = new Map<string, NodeCard>();
  let incarnations = 1;
  const cards: CardStore = {
    register: async (card) => void registered.set(card.id, card),
    unregister: async (id) => void registered.delete(id),
    list: async () => [...registered.values()],
    renew: async (card) => [...registered.set(card.id, card).values()],
    get: async (id) => registered.get(id),
    renewedAt: async (id) => (registered.has(id) ? Date.now() : undefined),
    nextIncarnation: async () => ++incarnations,
  };
  const log = (): void => undefined;
  const events: Array<{ event: string; args: unknown[] }> = [];
  const emit: EmitMembershipEvent = (event, ...args) => void events.push({ event, args });
  const table = new MemberTable(links, emit, { discoverTimeoutMs, log });
  const self = new SelfCard(cardOf('self', 1, 7510), cards, links);
  const joins: string[] = [];
  // Only `join` requests are sent in these tests.
  const channel = {
    request: (peer: string) => {
      joins.push(peer);
      return answerJoin(peer);
    },
  } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
  let heartbeats = 0;
  const accused = (_peer: string, incarnation: number, why: string): void => emit('self:suspect', why, incarnation);
  const protocol = new JoinProtocol(table, self, links, cards, channel, async () => void heartbeats++, accused, { discoverTimeoutMs, joinAttemptIntervalMs: 1000, log });
  return { protocol, table, linked, registered, self, events, joins, heartbeats: () => heartbeats };
}

describe('JoinProtocol', () => {
  it('a join this node never hears the joiner of fails, and drops the link it made to answer it', async () => {
    const { protocol, table, linked, registered } = joinProtocol(50);
    const joiner = cardOf('joiner', 1, 7520);
    registered.set(joiner.id, joiner);
    await assert.rejects(protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation }), /nothing heard from/);
    assert.equal(table.has(joiner.id), false);
    assert.equal(linked.has(joiner.id), false, 'no link left reconnecting to a node that is not a member');
  });

  it('a join it hears the joiner of succeeds and keeps the link; a heartbeat goes out with the answer (the joiner waits to hear this node)', async () => {
    const { protocol, table, linked, registered, heartbeats } = joinProtocol(5000);
    const joiner = cardOf('joiner', 1, 7520);
    registered.set(joiner.id, joiner);
    const accepted = protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation });
    await new Promise<void>((resolve) => setImmediate(resolve));
    protocol.heardFrom(joiner.id);
    assert.equal((await accepted).card.id, 'self');
    assert.equal(table.has(joiner.id), true);
    assert.equal(linked.has(joiner.id), true);
    assert.equal(heartbeats(), 1);
  });

  it('answers a join with the card it has when it answers: a rejoin during the wait is not answered with the superseded incarnation', async () => {
    const { protocol, registered, self } = joinProtocol(5000);
    await self.reincarnate();
    const joiner = cardOf('joiner', 1, 7520);
    registered.set(joiner.id, joiner);
    const accepted = protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation });
    await new Promise<void>((resolve) => setImmediate(resolve));
    await self.reincarnate(); // presumed dead meanwhile: it joined again
    protocol.heardFrom(joiner.id);
    assert.equal((await accepted).card.incarnation, self.current.incarnation);
  });

  it('a member this node could not reach while joining again counts as unanswered, and the next discovery joins it again', async () => {
    let reachable = false;
    const peer = cardOf('peer', 1, 7530);
    const { protocol, table, registered, joins } = joinProtocol(50, async () => {
      if (!reachable) throw new Error('timeout');
      return { card: peer };
    });
    registered.set(peer.id, peer);
    table.add(peer);
    assert.equal(await protocol.discover(true, true), 1, 'the member still holds the old incarnation of this node');
    reachable = true;
    protocol.heardFrom(peer.id);
    const attempts = joins.length;
    const joined = protocol.discover(true);
    await new Promise<void>((resolve) => setImmediate(resolve));
    protocol.heardFrom(peer.id);
    assert.equal(await joined, 0);
    assert.equal(joins.length, attempts + 1, 'joined again by the periodic discovery');
    await protocol.discover(true);
    assert.equal(joins.length, attempts + 1, 'once joined, a member is not joined again');
  });

  it('a member this node could not reach while joining again stays unanswered when that member joins this node: it counts this node in only once it hears this node too', async () => {
    const peer = cardOf('peer', 1, 7530);
    const { protocol, table, registered } = joinProtocol(50, () => Promise.reject(new Error('timeout')));
    registered.set(peer.id, peer);
    table.add(peer);
    await protocol.discover(true, true);
    assert.deepEqual([...protocol.unacknowledged], [peer.id]);
    // The member joins this node (its renewal found this node's new card): accepted here, since this node hears it.
    const accepted = protocol.accept(peer, { id: peer.id, incarnation: peer.incarnation });
    await new Promise<void>((resolve) => setImmediate(resolve));
    protocol.heardFrom(peer.id);
    await accepted;
    assert.deepEqual([...protocol.unacknowledged], [peer.id], 'its join may still fail on its side, if it does not hear this node');
  });

  it('a join answered with a card on other sockets than the one the peer registered is refused (a member may not get another node replaced)', async () => {
    const peer = cardOf('peer', 1, 7530);
    const { protocol, table, registered } = joinProtocol(5000, async () => ({ card: cardOf('peer', 1, 7540) }));
    registered.set(peer.id, peer);
    const joined = protocol.discover(true);
    await new Promise<void>((resolve) => setImmediate(resolve));
    protocol.heardFrom(peer.id);
    assert.equal(await joined, 1);
    assert.equal(table.has(peer.id), false);
  });

  it('an evicted incarnation stays fenced after its card left the store: woken past its card\'s life, it renews the same one and is told to join again, not taken back', async () => {
    const accused: string[] = [];
    const { protocol, table, registered } = joinProtocol(5000);
    const frozen = cardOf('frozen', 1, 7530);
    table.add(frozen);
    table.remove(frozen, 'timeout');
    await protocol.discover(true); // its card expired meanwhile: not in the store
    registered.set(frozen.id, frozen); // it wakes and renews the same incarnation
    (protocol as unknown as { accuse(card: NodeCard): Promise<void> }).accuse = async (card) => void accused.push(`${card.id}#${card.incarnation}`);
    await protocol.discover(true);
    assert.equal(table.has(frozen.id), false);
    assert.deepEqual(accused, ['frozen#1']);
  });

  it('a discovery that meets a join of this node under way (a renewal\'s) waits for it and counts it unanswered when it fails: a start retries instead of serving without that peer', async () => {
    let fail = (): void => undefined;
    const { protocol, registered, joins } = joinProtocol(5000, () => new Promise((_resolve, reject) => (fail = () => reject(new Error('timed out')))));
    const peer = cardOf('peer', 1, 7520);
    registered.set(peer.id, peer);
    const renewal = protocol.joinListed([peer]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    let counted: number | undefined;
    const start = protocol.discover(true).then((unanswered) => (counted = unanswered));
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(counted, undefined, 'waits for the join under way');
    fail();
    assert.equal(await start, 1);
    assert.equal(await renewal, 1);
    assert.equal(joins.length, 1, 'one join sent');
  });

  it('a join answered while its incarnation gets evicted (during the wait to hear it) is refused, not taken back; a fenced incarnation\'s broadcasts stay out while a join with its node is under way', async () => {
    const { protocol, table, registered } = joinProtocol(5000);
    const joiner = cardOf('joiner', 6, 7520);
    registered.set(joiner.id, joiner);
    table.add(joiner); // heard under this incarnation before its join came (recorded as newer)
    const accepted = protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation });
    await new Promise<void>((resolve) => setImmediate(resolve));
    table.remove(joiner, 'timeout');
    protocol.heardFrom(joiner.id);
    await assert.rejects(accepted, /was evicted/);
    assert.equal(table.has(joiner.id), false);
    table.startJoining(joiner.id);
    assert.equal(table.admits({ id: joiner.id, incarnation: 6 }, 'broadcast'), false, 'the evicted incarnation');
    assert.equal(table.admits({ id: joiner.id, incarnation: 7 }, 'broadcast'), true, 'its next one, joining');
    table.endJoining(joiner.id);
  });

  it('a member heard under a newer incarnation is recorded under it (card read from the store), and reported as reincarnated', async () => {
    const { protocol, table, registered, events } = joinProtocol(5000);
    const old = cardOf('peer', 1, 7530);
    table.add(old);
    const renewed = { ...old, incarnation: 5 };
    registered.set(old.id, renewed);
    await protocol.noteIncarnation({ id: old.id, incarnation: 5 });
    assert.equal(table.get(old.id)?.card.incarnation, 5);
    assert.deepEqual(
      events.filter((e) => e.event === 'peer:reincarnated').map((e) => e.args),
      [[old, renewed]],
    );
    // A card the store holds under another incarnation than the sender's is not taken.
    registered.set(old.id, { ...old, incarnation: 7 });
    await protocol.noteIncarnation({ id: old.id, incarnation: 6 });
    assert.equal(table.get(old.id)?.card.incarnation, 5);
  });
});
