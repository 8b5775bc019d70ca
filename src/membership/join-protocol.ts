import type { Channel } from '../bus/message-bus';
import type { Sender } from '../bus/message-spec';
import { ClusterError, hasCode } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { CardStore } from './card-store';
import type { MemberTable } from './member-table';
import type { MEMBERSHIP_MESSAGES } from './messages';
import { sameSocketsAndKeys, type NodeCard } from './node-card';
import type { PeerLinks } from './peer-links';
import type { SelfCard } from './self-card';
import { Waiters } from './waiters';
import { clock } from '../util/clock';

export interface JoinOptions {
  discoverTimeoutMs: number;
  joinAttemptIntervalMs: number;
  log: Log;
}

/**
 * How a node becomes a member of another's view: the joiner asks with its
 * card, the peer checks the card against the store, connects back and
 * waits to hear the joiner (ZeroMQ's slow joiner: only a broadcast proves
 * its SUB works), records it, and answers with its own card, which the
 * joiner records in turn. A node fenced under its incarnation is told to
 * join again under a new one instead.
 */
export class JoinProtocol {
  private readonly heard = new Waiters();
  private readonly lastJoinAttempt = new Map<string, number>();
  /** Members a rejoin could not reach: they still hold an older incarnation of this node, so discovery joins them again. */
  private readonly owed = new Set<string>();
  /** Members whose newer incarnation is being read from the store. */
  private readonly refreshing = new Set<string>();
  /**
   * This node's joins under way, by peer, with the incarnation of this node
   * each announces: a discovery meeting one under the current incarnation
   * waits for it and counts its outcome.
   */
  private readonly joining = new Map<string, { incarnation: number; attempt: Promise<boolean> }>();

  constructor(
    private readonly table: MemberTable,
    private readonly self: SelfCard,
    private readonly links: PeerLinks,
    private readonly cards: CardStore,
    private readonly channel: Channel<typeof MEMBERSHIP_MESSAGES>,
    /** Sends a heartbeat now: a joiner keeps publishing while the peer's SUB connects. */
    private readonly publishHeartbeat: () => Promise<void>,
    /** A peer refused this node's join: it evicted that incarnation (see FailureDetector.onAccused). */
    private readonly accusedBy: (peerId: string, incarnation: number, why: string) => void,
    private readonly options: JoinOptions,
  ) {}

  /** A broadcast arrived from `id`: our SUB to it works. */
  heardFrom(id: string): void {
    this.heard.release(id);
  }

  /**
   * Resolves once a broadcast of `id` is heard (this node's SUB hears it);
   * at once when this node holds its broadcasts unread (64 of them in hand
   * here): they reach its SUB, they are only not read yet.
   */
  private heardOrHeld(id: string): Promise<void> {
    if (this.links.holding(id)) return Promise.resolve();
    return this.heard.wait(id, this.options.discoverTimeoutMs, 'nothing heard from');
  }

  /**
   * Members that did not answer this node's join since it joined again:
   * they may not count its current incarnation in (see {@link owed}).
   */
  get unacknowledged(): ReadonlySet<string> {
    return this.owed;
  }

  /**
   * Joins every card in the store not yet a member (members too with
   * `includeMembers`: they take a new incarnation). Returns the number of
   * cards that did not answer (peers still starting, or dead with a card
   * not yet expired). `force` ignores the per-peer retry interval.
   */
  async discover(force = false, includeMembers = false): Promise<number> {
    return this.joinListed(await this.cards.list(), force, includeMembers);
  }

  /** {@link discover} among `cards`, every live card as just read from the store. */
  async joinListed(cards: readonly NodeCard[], force = false, includeMembers = false): Promise<number> {
    // Node ids are new at every start: a gone card's entry would stay for good.
    // Members owed nothing need no pacing either (joined, or joined by the
    // peer): dropped here, so that a settled cluster has nothing to drop,
    // nor to allocate.
    if (this.lastJoinAttempt.size > 0 || this.owed.size > 0) {
      const ids = new Set(cards.map((card) => card.id));
      for (const id of this.lastJoinAttempt.keys()) {
        if (!ids.has(id) || (this.table.has(id) && !this.owed.has(id))) this.lastJoinAttempt.delete(id);
      }
      for (const id of this.owed) if (!ids.has(id)) this.owed.delete(id);
    }
    const self = this.self.current;
    const now = clock.now();
    // One pass, nothing allocated when every card is a member: this runs at every tick.
    let joins: Array<Promise<boolean>> | undefined;
    for (const card of cards) {
      if (card.id === self.id || card.protocol !== self.protocol) continue;
      if (!includeMembers && this.table.has(card.id) && !this.owed.has(card.id)) continue;
      // This node's own join of it under way (a renewal's): its outcome is
      // this one's too, or a start's retries would end on a join that fails.
      const running = this.joining.get(card.id);
      if (running?.incarnation === self.incarnation) {
        (joins ??= []).push(running.attempt);
        continue;
      }
      if (this.table.isJoining(card.id)) continue;
      // Never tried: no wait (the clock starts near 0 with the process).
      if (!force && now - (this.lastJoinAttempt.get(card.id) ?? Number.NEGATIVE_INFINITY) < this.options.joinAttemptIntervalMs) continue;
      (joins ??= []).push(this.join(card));
    }
    if (!joins) return 0;
    const joined = await Promise.all(joins);
    return joined.filter((ok) => !ok).length;
  }

  /** Answers a peer's `join`: check it, connect back, wait to hear it, record it. */
  async accept(card: NodeCard, sender: Sender): Promise<{ card: NodeCard }> {
    const self = this.self.current;
    if (card.id !== sender.id || card.incarnation !== sender.incarnation) {
      throw new ClusterError('KPC_FOREIGN_CARD', `${sender.id} sent a card that is not its own`);
    }
    if (card.id === self.id) throw new ClusterError('KPC_FOREIGN_CARD', 'a node cannot join itself');
    if (card.protocol !== self.protocol) throw new ClusterError('KPC_PROTOCOL', `protocol ${card.protocol} not supported`);
    if (this.table.isFenced(card)) throw new ClusterError('KPC_EVICTED', `incarnation ${card.incarnation} of ${card.id} was evicted`);
    const known = this.table.get(card.id);
    if (known && known.card.incarnation > card.incarnation) {
      throw new ClusterError('KPC_STALE_INCARNATION', `${card.id} is known under a newer incarnation`);
    }
    // Only a node that registered itself where the cluster keeps its cards
    // may join, with the sockets and key it registered.
    const registered = await this.cards.get(card.id);
    if (!registered || registered.incarnation !== card.incarnation || !sameSocketsAndKeys(registered, card)) {
      throw new ClusterError('KPC_UNKNOWN_CARD', `${card.id} (incarnation ${card.incarnation}) is not registered`);
    }
    this.table.startJoining(card.id);
    try {
      const heard = this.heardOrHeld(card.id);
      heard.catch(() => undefined);
      this.links.connect(card.id, card.addresses);
      await heard;
      // Evicted, or known under a newer incarnation, during the waits above: not taken back.
      if (this.table.isFenced(card)) throw new ClusterError('KPC_EVICTED', `incarnation ${card.incarnation} of ${card.id} was evicted`);
      if ((this.table.get(card.id)?.card.incarnation ?? card.incarnation) > card.incarnation) {
        throw new ClusterError('KPC_STALE_INCARNATION', `${card.id} is known under a newer incarnation`);
      }
      this.table.add(card);
      // The joiner waits to hear this node (up to discoverTimeout) once
      // answered: a heartbeat now, not at the next period, which may be
      // later than that with a long heartbeat.
      void this.publishHeartbeat().catch(() => undefined);
      // Not owed any more only once this node's own join of it succeeds: the
      // joiner counts this node in only if it hears this node in turn, which
      // a cut of this node's broadcasts prevents (see {@link owed}).
      // Read again: this node may have joined again during the waits above,
      // and a superseded card would be kept by the joiner as this node's.
      return { card: this.self.current };
    } finally {
      this.table.endJoining(card.id);
      // Not heard: the link made to answer it goes, or it would stay (reconnecting for good) once its card is gone.
      this.releaseLinkUnlessUsed(card.id);
    }
  }

  /** Tells a node it was evicted under that incarnation: it joins again under a new one. */
  async accuse(card: Pick<NodeCard, 'id' | 'incarnation'>): Promise<void> {
    await this.channel.request(card.id, 'node:accused', { id: card.id, incarnation: card.incarnation }, this.options.discoverTimeoutMs);
  }

  /**
   * A member sent under a newer incarnation than the one recorded (it joined
   * again, and its join to this node failed or was answered late): its card
   * is read from the store and recorded, or this node would go on keying it
   * under an owner it no longer writes under.
   */
  noteIncarnation(sender: Sender): Promise<void> | undefined {
    // Runs for every message received: nothing allocated unless the incarnation is newer.
    const known = this.table.get(sender.id);
    if (!known || sender.incarnation <= known.card.incarnation || this.refreshing.has(sender.id)) return undefined;
    return this.recordNewer(sender);
  }

  private async recordNewer(sender: Sender): Promise<void> {
    this.refreshing.add(sender.id);
    try {
      const card = await this.cards.get(sender.id);
      // Only the card registered under the incarnation it sends with; a
      // later message tries again otherwise. A member removed meanwhile
      // comes back through a join, not here.
      if (card?.incarnation === sender.incarnation && this.table.has(card.id)) this.table.add(card);
    } catch (error) {
      this.options.log('debug', `could not read the card of ${sender.id}: ${describeError(error)}`);
    } finally {
      this.refreshing.delete(sender.id);
    }
  }

  /** A join of `card` (see {@link joining}). */
  private join(card: NodeCard): Promise<boolean> {
    const entry = { incarnation: this.self.current.incarnation, attempt: Promise.resolve(false) };
    entry.attempt = this.attemptJoin(card).finally(() => {
      if (this.joining.get(card.id) === entry) this.joining.delete(card.id);
    });
    this.joining.set(card.id, entry);
    return entry.attempt;
  }

  private async attemptJoin(card: NodeCard): Promise<boolean> {
    this.lastJoinAttempt.set(card.id, clock.now());
    const joiner = this.self.current;
    // A member joined again (rejoin): it holds an older incarnation of this node until this join succeeds.
    const rejoining = this.table.has(card.id);
    this.table.startJoining(card.id);
    try {
      // Inside the try: a card with an address ZeroMQ refuses must not stop the others.
      this.links.connect(card.id, card.addresses);
      if (this.table.isFenced(card)) {
        await this.accuse(card);
        return false;
      }
      const heard = this.heardOrHeld(card.id);
      heard.catch(() => undefined);
      // Keep publishing while the peer's SUB connects, so it hears us and answers.
      const pinger = setInterval(() => void this.publishHeartbeat(), 50);
      let answer: { card: NodeCard };
      try {
        answer = await this.channel.request(card.id, 'join', { card: joiner }, this.options.discoverTimeoutMs);
      } finally {
        clearInterval(pinger);
      }
      await heard;
      // Its current incarnation (it may have joined again meanwhile), with the sockets and key it registered:
      // a member may not answer with another node's sockets, which would get that node replaced here.
      if (answer.card.id !== card.id || !sameSocketsAndKeys(answer.card, card)) throw new ClusterError('KPC_FOREIGN_CARD', `${card.id} answered with a card that is not the one it registered`);
      if (this.table.isFenced(answer.card)) {
        await this.accuse(answer.card);
        return false;
      }
      this.table.add(answer.card);
      this.owed.delete(card.id);
      return true;
    } catch (error) {
      if (hasCode(error, 'KPC_EVICTED')) this.accusedBy(card.id, joiner.incarnation, `${card.id} had evicted this incarnation`);
      this.options.log('debug', `could not join ${card.id}: ${describeError(error)}`);
      if (rejoining) {
        this.owed.add(card.id);
        return false;
      }
      // It joined this node meanwhile: it knows this incarnation.
      return this.table.has(card.id);
    } finally {
      this.table.endJoining(card.id);
      this.releaseLinkUnlessUsed(card.id);
    }
  }

  /** Drops the link to `id` unless it is a member or a join with it is still under way. */
  private releaseLinkUnlessUsed(id: string): void {
    if (!this.table.has(id) && !this.table.isJoining(id)) this.links.disconnect(id);
  }
}
