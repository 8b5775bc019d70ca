import type { Channel } from '../bus/message-bus';
import type { Sender } from '../bus/message-spec';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { Cancel, Scheduler } from '../util/scheduler';
import type { MemberTable } from './member-table';
import type { MEMBERSHIP_MESSAGES } from './messages';
import type { NodeCard } from './node-card';
import type { EmitMembershipEvent, Peer } from './peer';
import type { PeerLinks } from './peer-links';
import { RecentMap } from '../util/recent-map';
import { clock } from '../util/clock';

export interface FailureDetectorOptions {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  discoverTimeoutMs: number;
  log: Log;
}

type NodeRef = { id: string; incarnation: number };

/**
 * Who is alive. Every message received from a member is proof of life;
 * this node broadcasts a heartbeat when it has broadcast nothing else for a
 * heartbeat (any broadcast proves it alive to every peer; a request, to one
 * peer only, does not count). A member silent past `heartbeatTimeoutMs`, or
 * whose connection closed and who stayed silent for a heartbeat, is
 * evicted and the eviction announced.
 *
 * A false suspicion costs nothing lasting: an evicted node that is alive
 * hears of it (the eviction, or an accusation relayed by a member that
 * still hears it) and joins again under a new incarnation; a node that was
 * paused itself judges nobody before reading what waited in its sockets,
 * and asks its peers whether they still count it in.
 */
export class FailureDetector {
  private cancelTick: Cancel | undefined;
  private lastTick = 0;
  private lastPublish = 0;
  /** Whether the previous periodic tick came late (see {@link tick}). */
  private lateBefore = false;
  private broadcastsAtLastTick = 0;
  private running = false;
  /** Held peers asked for proof of life, whose answer is awaited. */
  private readonly probing = new Set<string>();
  /** When this node last relayed an accusation, per accused incarnation. */
  private readonly relayed = new RecentMap<string, number>(1000);
  /** When an accusation of each member last made this node join again. */
  private readonly honoured = new RecentMap<string, number>(1000);

  constructor(
    private readonly table: MemberTable,
    private readonly links: PeerLinks,
    private readonly channel: Channel<typeof MEMBERSHIP_MESSAGES>,
    private readonly self: () => NodeCard,
    private readonly emit: EmitMembershipEvent,
    private readonly scheduler: Scheduler,
    private readonly options: FailureDetectorOptions,
  ) {
    links.onDisconnect((peerId) => {
      const peer = table.get(peerId);
      if (!peer || peer.connectionLostAt !== undefined) return;
      peer.connectionLostAt = clock.now();
      // A held peer's heartbeats wait unread: only its answer can show it is still there.
      if (links.holding(peerId)) void this.probe(peer);
      // Judged as soon as the grace ends rather than at the next tick (up to
      // half a heartbeat later): an extra tick, which also knows whether this
      // process was paused meanwhile.
      scheduler.after(this.connectionLostGraceMs() + 1, () => void this.tick(false));
    });
  }

  /** Ticks every half heartbeat: heartbeats out, silences judged. */
  start(): void {
    this.running = true;
    this.lastTick = clock.now();
    // The first heartbeat a period from now: no member yet (a join sends its own while it waits).
    this.lastPublish = Math.max(this.lastPublish, this.lastTick);
    this.cancelTick = this.scheduler.every(this.tickMs(), () => void this.tick());
  }

  stop(): void {
    this.running = false;
    this.cancelTick?.();
    this.cancelTick = undefined;
  }

  /** Half a heartbeat: how often silences are judged. */
  tickMs(): number {
    return Math.max(10, Math.floor(this.options.heartbeatMs / 2));
  }

  async publishHeartbeat(): Promise<void> {
    if (!this.running) return;
    this.lastPublish = clock.now();
    try {
      await this.channel.publish('heartbeat', {});
    } catch (error) {
      this.options.log('debug', `heartbeat failed: ${describeError(error)}`);
    }
    // Not a broadcast that postpones the next heartbeat: taken as one at the
    // next tick, it put an idle node's heartbeats 1.5 periods apart, and a
    // peer whose connection closed then outlived its grace of one period
    // (evicted although alive, about one time in three).
    this.broadcastsAtLastTick = this.links.broadcastsSent();
  }

  /** A message from `sender` was accepted: proof of life of that incarnation. */
  noteAlive(sender: Sender): void {
    const peer = this.table.get(sender.id);
    if (peer && sender.incarnation >= peer.card.incarnation) {
      peer.lastSeen = clock.now();
      peer.connectionLostAt = undefined;
    }
  }

  /** A peer announced it evicted `accused`: about this node, an accusation; about a third node, a suspicion. */
  onEvicted(accused: NodeRef, sender: Sender): void {
    if (accused.id === this.self().id) {
      this.onAccused(accused, `evicted by ${sender.id}`, sender.id);
      return;
    }
    const peer = this.table.get(accused.id);
    if (!peer || peer.card.incarnation !== accused.incarnation) return;
    if (clock.now() - peer.lastSeen > this.options.heartbeatTimeoutMs) return; // our own timer decides
    // One relay per accused incarnation and heartbeat timeout: a member
    // evicting others again and again (overloaded, or lying) costs each of
    // them one rejoin at most, not one per accusation.
    const key = `${accused.id}#${accused.incarnation}`;
    const last = this.relayed.get(key);
    if (last !== undefined && clock.now() - last < this.options.heartbeatTimeoutMs) return;
    this.relayed.set(key, clock.now());
    // We still hear it: it must learn that it was evicted, and join again under a new incarnation.
    this.options.log('info', `${sender.id} evicted ${accused.id}, which this node still hears: relaying`);
    this.channel.request(accused.id, 'node:accused', accused, this.options.discoverTimeoutMs).catch((error: unknown) =>
      this.options.log('debug', `could not relay the eviction of ${accused.id}: ${describeError(error)}`),
    );
  }

  /**
   * This node is told it was evicted under an incarnation: if it is the
   * current one, it must join again. `accuser`: the member that says so;
   * it makes this node join again at most once per two heartbeat timeouts
   * (a member accusing each new incarnation at once, overloaded or lying,
   * would otherwise keep it rewriting its subscriptions for good; one that
   * evicted it twice in that time is joined again a little later).
   */
  onAccused(accused: NodeRef, why: string, accuser?: string): void {
    const self = this.self();
    if (accused.id !== self.id || accused.incarnation !== self.incarnation || !this.running) return;
    if (accuser !== undefined) {
      const last = this.honoured.get(accuser);
      if (last !== undefined && clock.now() - last < 2 * this.options.heartbeatTimeoutMs) {
        this.options.log('info', `${why}: ignored, ${accuser} made this node join again less than ${2 * this.options.heartbeatTimeoutMs} ms ago`);
        return;
      }
      this.honoured.set(accuser, clock.now());
    }
    this.emit('self:suspect', why, accused.incarnation);
  }

  /**
   * How long a peer whose connection closed may stay silent before it is
   * taken for dead: a heartbeat and a tick. A live peer whose connection
   * closed (a network fault) keeps sending heartbeats on its other
   * connection, at most a period apart, but from ticks that a busy event
   * loop may run late; if it is evicted anyway, it finds out and joins
   * again with a new incarnation, and changes sent meanwhile are lost to
   * its subscribers.
   */
  private connectionLostGraceMs(): number {
    return this.options.heartbeatMs + this.tickMs();
  }

  /**
   * `regular`: one of the periodic ticks, which alone send heartbeats: an
   * extra tick (see onDisconnect) only judges, and leaves the periodic
   * ticks' times alone, the heartbeat's rule counting on them.
   */
  private async tick(regular = true): Promise<void> {
    if (!this.running) return;
    const now = clock.now();
    const sinceLastTick = now - this.lastTick;
    if (regular) {
      // Any broadcast sent (notifications, state changes) proves this node
      // alive: it postpones the heartbeat, from the previous tick (it was
      // sent since, when exactly is not known), so that peers never wait
      // more than a period.
      const broadcasts = this.links.broadcastsSent();
      if (broadcasts !== this.broadcastsAtLastTick) {
        this.broadcastsAtLastTick = broadcasts;
        this.lastPublish = Math.max(this.lastPublish, this.lastTick);
      }
      this.lastTick = now;
      if (now - this.lastPublish >= this.options.heartbeatMs) await this.publishHeartbeat();
    }
    const late = sinceLastTick > this.tickMs() * 3;
    // A late tick right after another is a loaded loop, not a pause: it
    // judges (or a dead peer would stay a member for as long as the load
    // lasts).
    const paused = late && !(regular && this.lateBefore);
    if (regular) this.lateBefore = late;
    if (late && !paused) {
      // What the peers sent during this gap is still unread; what they sent
      // during the previous one was read right after the previous tick. A
      // peer heard since then is alive: its silence is this gap's.
      const previousTick = now - sinceLastTick;
      for (const peer of this.table.peers()) {
        if (peer.lastSeen < previousTick) continue;
        peer.lastSeen = Math.max(peer.lastSeen, now - this.options.heartbeatMs);
        // A connection seen closed since: what the peer sent on its other one is unread too.
        if (peer.connectionLostAt !== undefined) peer.connectionLostAt = Math.max(peer.connectionLostAt, now);
      }
    }
    if (paused) {
      // Judged by the next periodic tick.
      if (!regular) return;
      // This process was not running (frozen, or its event loop blocked):
      // peers' silence is ours, and what they sent meanwhile waits in our
      // sockets. Judge nobody before reading it; ask them whether they
      // evicted us if the pause was long enough for that.
      for (const peer of this.table.peers()) {
        peer.lastSeen = Math.max(peer.lastSeen, now - this.options.heartbeatMs);
        // A connection seen closed before the pause: what the peer sent since is still unread.
        if (peer.connectionLostAt !== undefined) peer.connectionLostAt = Math.max(peer.connectionLostAt, now);
      }
      if (sinceLastTick > this.options.heartbeatTimeoutMs) void this.checkStanding();
      return;
    }
    for (const peer of this.table.peers()) {
      // Held by this node (too many of its broadcasts in hand here, say while
      // Redis is slow): its heartbeats wait unread behind them. It is asked
      // instead, over its request channel, which is never held: alive, it
      // answers; dead, or cut off, it stays silent and is judged as usual.
      if (this.links.holding(peer.card.id) && now - peer.lastSeen >= this.options.heartbeatMs) void this.probe(peer);
      if (now - peer.lastSeen > this.options.heartbeatTimeoutMs) void this.evict(peer.card, 'timeout');
      // Its connection closed and it stayed silent for a heartbeat: its process is gone
      // (unless it was asked and has not answered yet: the timeout rule decides then).
      else if (peer.connectionLostAt !== undefined && now - peer.connectionLostAt > this.connectionLostGraceMs() && !this.probing.has(peer.card.id)) {
        void this.evict(peer.card, 'connectionLost');
      }
    }
  }

  /** Asks a held peer for proof of life (one question at a time per peer); its answer counts as a message heard. */
  private async probe(peer: Peer): Promise<void> {
    const { id, incarnation } = peer.card;
    if (this.probing.has(id)) return;
    this.probing.add(id);
    try {
      await this.channel.request(id, 'member:check', {}, this.options.heartbeatMs);
      this.noteAlive({ id, incarnation });
    } catch (error) {
      this.options.log('debug', `held peer ${id} did not answer: ${describeError(error)}`);
    } finally {
      this.probing.delete(id);
    }
  }

  private async evict(card: NodeCard, reason: 'timeout' | 'connectionLost'): Promise<void> {
    this.table.remove(card, reason);
    try {
      await this.channel.publish('node:evicted', { id: card.id, incarnation: card.incarnation });
    } catch (error) {
      this.options.log('debug', `could not announce the eviction of ${card.id}: ${describeError(error)}`);
    }
  }

  /** After a pause: does every member still count this incarnation in? If not, join again. */
  private async checkStanding(): Promise<void> {
    const asked = this.self();
    const answers = await this.channel.requestEach(this.table.ids(), 'member:check', {}, this.options.discoverTimeoutMs);
    const lost = answers.filter((answer) => answer.reply?.member === false).map((answer) => answer.peer);
    // The answers are about the incarnation asked about: if this node joined
    // again meanwhile, they are stale and no reason to join once more.
    if (lost.length > 0) this.onAccused(asked, `after a pause, ${lost.join(', ')} no longer counted this node in`);
  }
}
