import { EventEmitter } from 'events';
import type { Channel, MessageBus } from '../bus/message-bus';
import type { Sender } from '../bus/message-spec';
import { ClusterError, hasCode } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { NodeAddresses } from '../transport/envelope';
import type { CardStore } from './card-store';
import { MEMBERSHIP_MESSAGES } from './messages';
import { sameAddresses, type NodeCard } from './node-card';
import { Waiters } from './waiters';

/** A peer as this node sees it. */
export interface Peer {
  card: NodeCard;
  /** Epoch ms of the last message received from it (any message is proof of life). */
  lastSeen: number;
  /** Epoch ms when it became a member for this node. */
  since: number;
  /** Epoch ms when its connection was closed by the other side, if it was and nothing was heard since. */
  connectionLostAt?: number;
}

export interface MembershipOptions {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  discoverTimeoutMs: number;
  joinAttemptIntervalMs: number;
  log: Log;
}

/** Why a peer left this node's view. */
export type PeerRemovalReason = 'timeout' | 'connectionLost' | 'left' | 'replaced';

export interface MembershipEvents {
  /** `returning`: this node had removed it before (it may have missed what happened meanwhile). */
  'peer:added': [Peer, { returning: boolean }];
  /** The card as it was known: its incarnation names the Redis entries to purge. */
  'peer:removed': [NodeCard, PeerRemovalReason];
  /** A member joined again under a new incarnation (it rewrites its own state). */
  'peer:reincarnated': [NodeCard, NodeCard];
  /** This node was presumed dead by a peer: it must join again under a new incarnation. */
  'self:suspect': [string];
}

type MembershipChannel = Channel<typeof MEMBERSHIP_MESSAGES>;

/**
 * Who is in the cluster. Transport-free: it talks through the message bus
 * and finds peers in a {@link CardStore}, so it can be tested alone.
 *
 * - A node is a member for a peer once both recorded each other: the joiner
 *   records the peer after its answer, the peer before answering; a member-only
 *   request from a node whose join is still in flight waits for its outcome.
 * - Every message received from a member is proof of life; every message
 *   sent postpones the next heartbeat.
 * - Each start and each rejoin has a new incarnation. Removing a node fences
 *   that incarnation: it is never taken back under it, only after it joined
 *   again (and rewrote its state) under a newer one.
 * - A peer's `node:evicted` about a third node is only a suspicion: while this
 *   node still hears the accused, it relays the accusation so that the
 *   accused joins again, instead of dropping it.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  private readonly channel: MembershipChannel;
  private readonly members = new Map<string, Peer>();
  /** Joins in flight (either direction), per peer id. */
  private readonly joining = new Map<string, number>();
  /** Incarnation each removed node had: it may only come back under a newer one. */
  private readonly fences = new Map<string, number>();
  private readonly lastJoinAttempt = new Map<string, number>();
  private readonly heard = new Waiters();
  private readonly recorded = new Waiters();
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private lastPublish = 0;
  private stopped = true;
  /** The card renewal and discovery in flight, if any. */
  private discovery: Promise<void> | undefined;
  private publishedAtLastTick = 0;

  constructor(
    private card: NodeCard,
    private readonly bus: MessageBus,
    private readonly cards: CardStore,
    private readonly options: MembershipOptions,
  ) {
    super();
    this.channel = bus.register(MEMBERSHIP_MESSAGES, {
      join: ({ card }, sender) => this.acceptJoin(card, sender),
      'member:check': (_body, sender) => ({ member: this.members.get(sender.id)?.card.incarnation === sender.incarnation }),
      heartbeat: () => undefined,
      'node:leave': (_body, sender) => this.removeIfCurrent(sender, 'left'),
      'node:evicted': (accused, sender) => this.onEvicted(accused, sender),
      'node:accused': async (accused, sender) => {
        // From a member, or from a node that registered itself where the cluster keeps its cards.
        if (!this.members.has(sender.id) && (await this.cards.get(sender.id))?.incarnation !== sender.incarnation) {
          throw new ClusterError('KPC_UNKNOWN_CARD', `${sender.id} is neither a member nor registered`);
        }
        this.onAccused(accused, `accused by ${sender.id}`);
        return {};
      },
    });
    bus.setMemberGate((sender, kind) => this.admits(sender, kind));
    bus.transport.onDisconnect((peerId) => {
      const peer = this.members.get(peerId);
      if (!peer || peer.connectionLostAt !== undefined) return;
      peer.connectionLostAt = Date.now();
      // Judged as soon as the grace ends rather than at the next tick (up to
      // half a heartbeat later): an extra tick, which also knows whether this
      // process was paused meanwhile.
      setTimeout(() => void this.tick(), this.connectionLostGraceMs() + 1).unref();
    });
    bus.onSeen((sender, kind) => this.noteAlive(sender, kind));
  }

  /** This node's card (its incarnation changes on rejoin). */
  get self(): NodeCard {
    return this.card;
  }

  peers(): Peer[] {
    return [...this.members.values()];
  }

  peerIds(): string[] {
    return [...this.members.keys()];
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  /** Number of nodes in the cluster, this one included. */
  size(): number {
    return this.members.size + 1;
  }

  /**
   * Takes a new incarnation, registers this node and starts heartbeats, then
   * joins every peer found in the store. Resolves with the number of peers
   * that did not answer.
   */
  async start(addresses: NodeAddresses): Promise<number> {
    this.card = { ...this.card, addresses };
    await this.reincarnate();
    this.stopped = false;
    this.lastTick = Date.now();
    this.timer = setInterval(() => void this.tick(), this.tickMs());
    return this.discover(true);
  }

  /**
   * After this node was presumed dead: a new incarnation, then a join of
   * every node in the store, members included (they take the new
   * incarnation; those that evicted it take it back). Resolves with the
   * number of peers that did not answer.
   */
  async rejoin(): Promise<number> {
    await this.reincarnate();
    return this.discover(true, true);
  }

  private async reincarnate(): Promise<void> {
    const incarnation = await this.cards.nextIncarnation();
    this.card = { ...this.card, incarnation };
    this.bus.transport.setIncarnation(incarnation);
    await this.cards.register(this.card);
  }

  /**
   * Joins every card in the store not yet a member. Returns the number of
   * cards that did not answer (peers still starting, or dead with a card not
   * yet expired). `force` ignores the per-peer retry interval.
   */
  async discover(force = false, includeMembers = false): Promise<number> {
    const cards = await this.cards.list();
    const live = new Set(cards.map((card) => card.id));
    // A fence is only needed while its node may still come back under that incarnation.
    for (const id of [...this.fences.keys()]) if (!live.has(id)) this.fences.delete(id);
    const now = Date.now();
    const joins = cards
      .filter((card) => card.id !== this.card.id && card.protocol === this.card.protocol)
      .filter((card) => includeMembers || !this.members.has(card.id))
      .filter((card) => !this.joining.has(card.id))
      .filter((card) => force || now - (this.lastJoinAttempt.get(card.id) ?? 0) >= this.options.joinAttemptIntervalMs)
      .map((card) => this.join(card));
    const joined = await Promise.all(joins);
    return joined.filter((ok) => !ok).length;
  }

  private async join(card: NodeCard): Promise<boolean> {
    this.lastJoinAttempt.set(card.id, Date.now());
    this.startJoining(card.id);
    try {
      // Inside the try: a card with an address ZeroMQ refuses must not stop the others.
      this.bus.transport.connect(card.id, card.addresses);
      if (this.isFenced(card)) {
        await this.accuse(card);
        return false;
      }
      // Our SUB needs a broadcast from the peer to be known to work (ZeroMQ slow joiner).
      const heard = this.heard.wait(card.id, this.options.discoverTimeoutMs, 'nothing heard from');
      heard.catch(() => undefined);
      // Keep publishing while the peer's SUB connects, so it hears us and answers.
      const pinger = setInterval(() => void this.publishHeartbeat(), 50);
      let answer: { card: NodeCard };
      try {
        answer = await this.channel.request(card.id, 'join', { card: this.card }, this.options.discoverTimeoutMs);
      } finally {
        clearInterval(pinger);
      }
      await heard;
      if (answer.card.id !== card.id) throw new ClusterError('KPC_FOREIGN_CARD', `${card.id} answered with the card of ${answer.card.id}`);
      if (this.isFenced(answer.card)) {
        await this.accuse(answer.card);
        return false;
      }
      this.add(answer.card);
      return true;
    } catch (error) {
      if (hasCode(error, 'KPC_EVICTED')) this.emit('self:suspect', `${card.id} had evicted this incarnation`);
      this.options.log('debug', `could not join ${card.id}: ${describeError(error)}`);
      return this.members.has(card.id);
    } finally {
      this.endJoining(card.id);
      if (!this.members.has(card.id) && !this.joining.has(card.id)) this.bus.transport.disconnect(card.id);
    }
  }

  /** Answers a peer's `join`: check it, connect back, wait to hear it, record it. */
  private async acceptJoin(card: NodeCard, sender: Sender): Promise<{ card: NodeCard }> {
    if (card.id !== sender.id || card.incarnation !== sender.incarnation) {
      throw new ClusterError('KPC_FOREIGN_CARD', `${sender.id} sent a card that is not its own`);
    }
    if (card.id === this.card.id) throw new ClusterError('KPC_FOREIGN_CARD', 'a node cannot join itself');
    if (card.protocol !== this.card.protocol) throw new ClusterError('KPC_PROTOCOL', `protocol ${card.protocol} not supported`);
    if (this.isFenced(card)) throw new ClusterError('KPC_EVICTED', `incarnation ${card.incarnation} of ${card.id} was evicted`);
    const known = this.members.get(card.id);
    if (known && known.card.incarnation > card.incarnation) {
      throw new ClusterError('KPC_STALE_INCARNATION', `${card.id} is known under a newer incarnation`);
    }
    // Only a node that registered itself where the cluster keeps its cards may join.
    const registered = await this.cards.get(card.id);
    if (!registered || registered.incarnation !== card.incarnation || !sameAddresses(registered, card)) {
      throw new ClusterError('KPC_UNKNOWN_CARD', `${card.id} (incarnation ${card.incarnation}) is not registered`);
    }
    this.startJoining(card.id);
    try {
      const heard = this.heard.wait(card.id, this.options.discoverTimeoutMs, 'nothing heard from');
      heard.catch(() => undefined);
      this.bus.transport.connect(card.id, card.addresses);
      await heard;
      this.add(card);
      return { card: this.card };
    } finally {
      this.endJoining(card.id);
    }
  }

  /** Tells a node it was evicted under that incarnation: it joins again under a new one. */
  private async accuse(card: NodeCard): Promise<void> {
    await this.channel.request(card.id, 'node:accused', { id: card.id, incarnation: card.incarnation }, this.options.discoverTimeoutMs);
  }

  private isFenced(card: NodeCard): boolean {
    const fence = this.fences.get(card.id);
    return fence !== undefined && card.incarnation <= fence;
  }

  private startJoining(id: string): void {
    this.joining.set(id, (this.joining.get(id) ?? 0) + 1);
  }

  private endJoining(id: string): void {
    const left = (this.joining.get(id) ?? 1) - 1;
    if (left > 0) this.joining.set(id, left);
    else this.joining.delete(id);
  }

  private add(card: NodeCard): void {
    this.bus.transport.connect(card.id, card.addresses);
    const existing = this.members.get(card.id);
    if (existing) {
      const before = existing.card;
      existing.card = card;
      existing.lastSeen = Date.now();
      if (card.incarnation > before.incarnation) {
        this.options.log('info', `${card.id} joined again (incarnation ${before.incarnation} → ${card.incarnation})`);
        this.emit('peer:reincarnated', before, card);
      }
      return;
    }
    // A node restarted on the same sockets replaces the one it was.
    for (const other of [...this.members.values()]) {
      if (sameAddresses(other.card, card)) this.remove(other.card, 'replaced');
    }
    const returning = this.fences.has(card.id);
    const peer: Peer = { card, lastSeen: Date.now(), since: Date.now() };
    this.members.set(card.id, peer);
    this.options.log('info', `${card.id} joined (incarnation ${card.incarnation}, ${this.size()} nodes)${returning ? ', coming back' : ''}`);
    this.recorded.release(card.id);
    this.emit('peer:added', peer, { returning });
  }

  /** Forgets a member and fences its incarnation; idempotent. */
  private remove(card: NodeCard, reason: PeerRemovalReason): void {
    const current = this.members.get(card.id);
    if (!current || current.card.incarnation !== card.incarnation) return;
    this.members.delete(card.id);
    this.fences.set(card.id, Math.max(this.fences.get(card.id) ?? 0, card.incarnation));
    this.bus.transport.disconnect(card.id);
    const age = Date.now() - current.lastSeen;
    this.options.log(reason === 'left' ? 'info' : 'warn', `${card.id} removed (${reason}, last heard ${age} ms ago, ${this.size()} nodes)`);
    this.emit('peer:removed', current.card, reason);
  }

  private removeIfCurrent(sender: Sender, reason: PeerRemovalReason): void {
    const peer = this.members.get(sender.id);
    if (peer && peer.card.incarnation === sender.incarnation) this.remove(peer.card, reason);
  }

  /**
   * Broadcasts are admitted from members (not older incarnations) and from
   * nodes being joined; a member-only request from a node being joined waits
   * (bounded) until the join records it.
   */
  private admits(sender: Sender, kind: 'broadcast' | 'request'): boolean | Promise<boolean> {
    const peer = this.members.get(sender.id);
    if (peer) return sender.incarnation >= peer.card.incarnation;
    if (!this.joining.has(sender.id)) return false;
    if (kind === 'broadcast') return true;
    return this.recorded.wait(sender.id, this.options.discoverTimeoutMs, 'join not completed with').then(
      () => this.admits(sender, kind) === true,
      () => false,
    );
  }

  private noteAlive(sender: Sender, kind: 'broadcast' | 'request'): void {
    const peer = this.members.get(sender.id);
    if (peer && sender.incarnation >= peer.card.incarnation) {
      peer.lastSeen = Date.now();
      peer.connectionLostAt = undefined;
    }
    // Only a broadcast proves that our SUB hears the peer (ZeroMQ's slow joiner).
    if (kind === 'broadcast') this.heard.release(sender.id);
  }

  private onEvicted(accused: { id: string; incarnation: number }, sender: Sender): void {
    if (accused.id === this.card.id) {
      this.onAccused(accused, `evicted by ${sender.id}`);
      return;
    }
    const peer = this.members.get(accused.id);
    if (!peer || peer.card.incarnation !== accused.incarnation) return;
    if (Date.now() - peer.lastSeen > this.options.heartbeatTimeoutMs) return; // our own timer decides
    // We still hear it: it must learn that it was purged, and rewrite its state.
    this.options.log('info', `${sender.id} evicted ${accused.id}, which this node still hears: relaying`);
    this.channel.request(accused.id, 'node:accused', accused, this.options.discoverTimeoutMs).catch((error: unknown) =>
      this.options.log('debug', `could not relay the eviction of ${accused.id}: ${describeError(error)}`),
    );
  }

  private onAccused(accused: { id: string; incarnation: number }, why: string): void {
    if (accused.id === this.card.id && accused.incarnation === this.card.incarnation && !this.stopped) {
      this.emit('self:suspect', why);
    }
  }

  /**
   * How long a peer whose connection closed may stay silent before it is
   * taken for dead: one heartbeat. A live peer whose connection closed (a
   * network fault) keeps sending heartbeats on its other connection; if it
   * is evicted anyway, it finds out and joins again with a new incarnation.
   */
  private connectionLostGraceMs(): number {
    return this.options.heartbeatMs;
  }

  private tickMs(): number {
    return Math.max(10, Math.floor(this.options.heartbeatMs / 2));
  }

  private async publishHeartbeat(): Promise<void> {
    if (this.stopped) return;
    this.lastPublish = Date.now();
    try {
      await this.channel.publish('heartbeat', {});
    } catch (error) {
      this.options.log('debug', `heartbeat failed: ${describeError(error)}`);
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    // Any broadcast sent (notifications, state changes) is a proof of life: it postpones the heartbeat.
    const published = this.bus.transport.stats().published;
    if (published !== this.publishedAtLastTick) {
      this.publishedAtLastTick = published;
      this.lastPublish = now;
    }
    const sinceLastTick = now - this.lastTick;
    this.lastTick = now;
    if (now - this.lastPublish >= this.options.heartbeatMs) await this.publishHeartbeat();
    if (sinceLastTick > this.tickMs() * 3) {
      // This process was not running (frozen, or its event loop blocked):
      // peers' silence is ours, and what they sent meanwhile waits in our
      // sockets. Judge nobody before reading it; ask them whether they
      // evicted us if the pause was long enough for that.
      for (const peer of this.members.values()) peer.lastSeen = Math.max(peer.lastSeen, now - this.options.heartbeatMs);
      if (sinceLastTick > this.options.heartbeatTimeoutMs) void this.checkStanding();
    } else {
      for (const peer of [...this.members.values()]) {
        if (now - peer.lastSeen > this.options.heartbeatTimeoutMs) void this.evict(peer.card, 'timeout');
        // Its connection closed and it stayed silent for a heartbeat: its process is gone.
        else if (peer.connectionLostAt !== undefined && now - peer.connectionLostAt > this.connectionLostGraceMs()) void this.evict(peer.card, 'connectionLost');
      }
    }
    this.discovery ??= this.renewAndDiscover().finally(() => {
      this.discovery = undefined;
    });
  }

  private async evict(card: NodeCard, reason: 'timeout' | 'connectionLost'): Promise<void> {
    this.remove(card, reason);
    try {
      await this.channel.publish('node:evicted', { id: card.id, incarnation: card.incarnation });
    } catch (error) {
      this.options.log('debug', `could not announce the eviction of ${card.id}: ${describeError(error)}`);
    }
  }

  /** After a pause: does every member still count this incarnation in? If not, join again. */
  private async checkStanding(): Promise<void> {
    const peers = this.peerIds();
    const answers = await this.channel.requestEach(peers, 'member:check', {}, this.options.discoverTimeoutMs);
    const lost = answers.filter((answer) => answer.reply?.member === false).map((answer) => answer.peer);
    if (lost.length > 0) this.emit('self:suspect', `after a pause, ${lost.join(', ')} no longer counted this node in`);
  }

  /** Renews this node's card and joins new cards; slow (store, joins), so never two at once. */
  private async renewAndDiscover(): Promise<void> {
    try {
      await this.cards.register(this.card);
      if (this.stopped) {
        // The leave unregistered the card while this renewal was in flight.
        await this.cards.unregister(this.card.id);
        return;
      }
      await this.discover();
    } catch (error) {
      this.options.log('warn', `card store unreachable for membership: ${describeError(error)}`);
    }
  }

  /** Announces a clean leave (when `announce`) and stops; peers forget this node at once. */
  async stop(announce: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (announce) {
      await Promise.allSettled([this.channel.publish('node:leave', {}), this.cards.unregister(this.card.id)]);
    }
  }
}
