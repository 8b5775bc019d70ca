import { describeError } from '../util/describe-error';
import { EventEmitter } from 'events';
import createDebug from 'debug';
import type { Log } from '../log';
import type { Envelope } from '../transport/envelope';
import type { Transport } from '../transport/transport';
import { parseNodeCard, type NodeCard } from './node-card';
import type { NodeRegistry } from './node-registry';

const debug = createDebug('kuzzle-plugin-cluster:membership');

/** A peer as this node sees it. */
export interface Peer {
  card: NodeCard;
  /** Epoch ms of the last message received from it (any message is proof of life). */
  lastSeen: number;
  /** Epoch ms when it became a member for this node. */
  since: number;
}

export interface MembershipOptions {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  discoverTimeoutMs: number;
  joinAttemptIntervalMs: number;
  log: Log;
}

/** Why a peer left this node's view. */
export type PeerRemovalReason = 'timeout' | 'left' | 'evicted';

export interface MembershipEvents {
  'peer:added': [Peer];
  'peer:removed': [string, PeerRemovalReason];
  /** This node was frozen or declared dead by a peer: it must resync. */
  'self:suspect': [string];
}

export const MEMBERSHIP_MESSAGES = ['heartbeat', 'node:leave', 'node:evicted'] as const;

/**
 * Who is in the cluster. Transport-free: it sends through a {@link Transport}
 * and reads cards from a {@link NodeRegistry}, so it can be tested alone.
 * Every message received counts as proof of life; every message sent
 * postpones this node's next heartbeat.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  private readonly members = new Map<string, Peer>();
  private timer: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private lastPublish = 0;
  private readonly lastJoinAttempt = new Map<string, number>();
  private readonly heardFrom = new Map<string, Array<() => void>>();
  private stopped = false;
  /** The card renewal and discovery in flight, if any. */
  private discovery: Promise<void> | undefined;
  private publishedAtLastTick = 0;

  constructor(
    readonly self: NodeCard,
    private readonly transport: Transport,
    private readonly registry: NodeRegistry,
    private readonly options: MembershipOptions,
  ) {
    super();
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

  /** Called for every envelope received, whatever its type. */
  noteAlive(from: string): void {
    const peer = this.members.get(from);
    if (peer) peer.lastSeen = Date.now();
    const waiters = this.heardFrom.get(from);
    if (waiters) {
      this.heardFrom.delete(from);
      for (const resolve of waiters) resolve();
    }
  }

  /** Handles membership broadcasts; returns false for other types. */
  handleBroadcast(envelope: Envelope): boolean {
    switch (envelope.type) {
      case 'heartbeat':
        return true;
      case 'node:leave':
        this.remove(envelope.from, 'left');
        return true;
      case 'node:evicted': {
        const id = (envelope.body as { id?: unknown } | null)?.id;
        if (id === this.self.id) this.emit('self:suspect', `evicted by ${envelope.from}`);
        else if (typeof id === 'string') this.remove(id, 'evicted');
        return true;
      }
      default:
        return false;
    }
  }

  /** Answers a peer's `join` request: connect back, wait to hear it, reply with our card. */
  async acceptJoin(body: unknown): Promise<NodeCard> {
    const card = parseNodeCard((body as { card?: unknown } | null)?.card);
    if (!card || card.id === this.self.id) throw new Error('malformed join request');
    if (card.protocol !== this.self.protocol) throw new Error(`protocol ${card.protocol} not supported`);
    const heard = this.waitHeard(card.id, this.options.discoverTimeoutMs);
    // add() may throw before `heard` is awaited: never leave it unhandled.
    heard.catch(() => undefined);
    this.add(card);
    await heard;
    return this.self;
  }

  /**
   * Registers this node, starts heartbeats and joins every peer found in
   * Redis. Resolves with the number of peers that did not answer.
   */
  async start(): Promise<number> {
    this.stopped = false;
    await this.registry.register(this.self);
    this.lastTick = Date.now();
    this.timer = setInterval(() => void this.tick(), Math.max(10, Math.floor(this.options.heartbeatMs / 2)));
    return this.discover(true);
  }

  /**
   * Joins every card in Redis not yet a member. Returns the number of cards
   * that did not answer (peers still starting, or dead with a card not yet
   * expired). `force` ignores the per-peer retry interval.
   */
  async discover(force = false, includeMembers = false): Promise<number> {
    const cards = await this.registry.list();
    const now = Date.now();
    const joins = cards
      .filter((card) => card.id !== this.self.id && card.protocol === this.self.protocol)
      .filter((card) => includeMembers || !this.members.has(card.id))
      .filter((card) => force || now - (this.lastJoinAttempt.get(card.id) ?? 0) >= this.options.joinAttemptIntervalMs)
      .map((card) => this.join(card));
    const joined = await Promise.all(joins);
    return joined.filter((ok) => !ok).length;
  }

  /**
   * Joins every node listed in Redis again, members included: after this
   * node was presumed dead, peers that evicted it take it back. Members are
   * not dropped meanwhile (dropping them would purge their subscriptions).
   */
  rejoinAll(): Promise<number> {
    return this.discover(true, true);
  }

  private async join(card: NodeCard): Promise<boolean> {
    this.lastJoinAttempt.set(card.id, Date.now());
    try {
      // Inside the try: a card with an address ZeroMQ refuses must not stop the others.
      this.transport.connect(card.id, card.addresses);
      // Our SUB needs a broadcast from the peer to be known to work (ZeroMQ slow joiner).
      const heard = this.waitHeard(card.id, this.options.discoverTimeoutMs);
      // When the request fails, `heard` is never awaited; its rejection must
      // not be unhandled (that would kill the process).
      heard.catch(() => undefined);
      // Keep publishing while the peer's SUB connects, so it hears us and answers.
      const pinger = setInterval(() => void this.publishHeartbeat(), 50);
      try {
        await this.transport.request(card.id, 'join', { card: this.self }, this.options.discoverTimeoutMs);
      } finally {
        clearInterval(pinger);
      }
      await heard;
      this.add(card);
      this.options.log('info', `[cluster] ${this.self.id} joined ${card.id}`);
      return true;
    } catch (error) {
      if (!this.members.has(card.id)) this.transport.disconnect(card.id);
      this.options.log('debug', `[cluster] could not join ${card.id}: ${describeError(error)}`);
      return this.members.has(card.id);
    }
  }

  private waitHeard(id: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiters = this.heardFrom.get(id)?.filter((w) => w !== done);
        if (waiters && waiters.length > 0) this.heardFrom.set(id, waiters);
        else this.heardFrom.delete(id);
        reject(new Error(`nothing heard from ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.heardFrom.set(id, [...(this.heardFrom.get(id) ?? []), done]);
    });
  }

  private add(card: NodeCard): void {
    const existing = this.members.get(card.id);
    this.transport.connect(card.id, card.addresses);
    if (existing) {
      existing.card = card;
      existing.lastSeen = Date.now();
      return;
    }
    const peer: Peer = { card, lastSeen: Date.now(), since: Date.now() };
    this.members.set(card.id, peer);
    this.emit('peer:added', peer);
  }

  /** Forgets a peer; idempotent. */
  remove(id: string, reason: PeerRemovalReason): void {
    if (!this.members.delete(id)) return;
    this.transport.disconnect(id);
    this.options.log(reason === 'left' ? 'info' : 'warn', `[cluster] ${this.self.id}: peer ${id} removed (${reason})`);
    this.emit('peer:removed', id, reason);
  }

  private async publishHeartbeat(): Promise<void> {
    if (this.stopped) return;
    this.lastPublish = Date.now();
    try {
      await this.transport.publish('heartbeat', {});
    } catch (error) {
      debug('%s heartbeat failed: %s', this.self.id, describeError(error));
    }
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    // Any broadcast sent (notifications, state changes) is a proof of life: it postpones the heartbeat.
    const published = this.transport.stats().published;
    if (published !== this.publishedAtLastTick) {
      this.publishedAtLastTick = published;
      this.lastPublish = now;
    }
    const late = now - this.lastTick > this.options.heartbeatTimeoutMs;
    this.lastTick = now;
    if (late) {
      // This process was frozen: peers' silence is ours. Do not evict them;
      // they may have evicted us, so resync.
      for (const peer of this.members.values()) peer.lastSeen = now;
      this.emit('self:suspect', 'event loop was blocked longer than the heartbeat timeout');
    }
    for (const peer of [...this.members.values()]) {
      if (now - peer.lastSeen > this.options.heartbeatTimeoutMs) this.remove(peer.card.id, 'timeout');
    }
    this.discovery ??= this.renewAndDiscover().finally(() => {
      this.discovery = undefined;
    });
    if (now - this.lastPublish >= this.options.heartbeatMs) await this.publishHeartbeat();
  }

  /** Renews this node's card and joins new cards; slow (Redis, joins), so never two at once. */
  private async renewAndDiscover(): Promise<void> {
    try {
      await this.registry.register(this.self);
      if (this.stopped) {
        // The leave unregistered the card while this renewal was in flight.
        await this.registry.unregister(this.self.id);
        return;
      }
      await this.discover();
    } catch (error) {
      this.options.log('warn', `[cluster] ${this.self.id}: Redis unreachable for membership: ${describeError(error)}`);
    }
  }

  /** Announces a clean leave and stops; peers forget this node at once. */
  async stop(announce: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (announce) {
      await Promise.allSettled([this.transport.publish('node:leave', {}), this.registry.unregister(this.self.id)]);
    }
  }
}
