import { EventEmitter } from 'events';
import type { Channel, MessageBus } from '../bus/message-bus';
import { ClusterError } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { realScheduler, type Cancel, type Scheduler } from '../util/scheduler';
import type { NodeAddresses } from '../transport/envelope';
import type { CardStore } from './card-store';
import { FailureDetector } from './failure-detector';
import { JoinProtocol } from './join-protocol';
import { MemberTable } from './member-table';
import { MEMBERSHIP_MESSAGES } from './messages';
import type { NodeCard } from './node-card';
import type { MembershipEvents, Peer } from './peer';
import type { PeerLinks } from './peer-links';
import { SelfCard } from './self-card';

export type { MembershipEvents, Peer, PeerRemovalReason } from './peer';

export interface MembershipOptions {
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
  discoverTimeoutMs: number;
  joinAttemptIntervalMs: number;
  log: Log;
  /** Where ticks are scheduled; real timers unless a test freezes this node. */
  scheduler?: Scheduler;
}

/**
 * Who is in the cluster. It talks through the message bus, reaches peers
 * through the narrow {@link PeerLinks} port and finds them in a
 * {@link CardStore}, so it runs as well on in-memory doubles as on ZeroMQ
 * and Redis. Its jobs, one module each: this node's card ({@link SelfCard}),
 * the member list and its fences ({@link MemberTable}), joining
 * ({@link JoinProtocol}) and liveness ({@link FailureDetector}); this class
 * wires them, answers the membership messages and renews the card.
 */
export class Membership extends EventEmitter<MembershipEvents> {
  private readonly card: SelfCard;
  private readonly table: MemberTable;
  private readonly joins: JoinProtocol;
  private readonly detector: FailureDetector;
  private readonly scheduler: Scheduler;
  private readonly channel: Channel<typeof MEMBERSHIP_MESSAGES>;
  private readonly log: Log;
  private cancelRenewal: Cancel | undefined;
  private stopped = true;
  /** Set by {@link stop} for good: a start it interrupts does not run on. */
  private halted = false;
  /** The card renewal in flight, if any. */
  private renewal: Promise<void> | undefined;
  /** The discovery (joins of new cards) in flight, if any. */
  private discovery: Promise<void> | undefined;

  constructor(card: NodeCard, bus: MessageBus, links: PeerLinks, cards: CardStore, options: MembershipOptions) {
    super();
    const emit = this.emit.bind(this) as <E extends keyof MembershipEvents>(event: E, ...args: MembershipEvents[E]) => void;
    this.scheduler = options.scheduler ?? realScheduler;
    this.card = new SelfCard(card, cards, links);
    this.table = new MemberTable(links, emit, options);
    this.log = options.log;
    // The handlers run once messages arrive, after the parts below exist.
    this.channel = bus.register(MEMBERSHIP_MESSAGES, {
      join: ({ card: joiner }, sender) => this.joins.accept(joiner, sender),
      'member:check': (_body, sender) => ({ member: this.table.get(sender.id)?.card.incarnation === sender.incarnation }),
      heartbeat: () => undefined,
      'node:leave': (_body, sender) => this.table.left(sender),
      'node:evicted': (accused, sender) => this.detector.onEvicted(accused, sender),
      'node:accused': async (accused, sender) => {
        // From a member, or from a node that registered itself where the cluster keeps its cards.
        if (!this.table.has(sender.id) && (await cards.get(sender.id))?.incarnation !== sender.incarnation) {
          throw new ClusterError('KPC_UNKNOWN_CARD', `${sender.id} is neither a member nor registered`);
        }
        this.detector.onAccused(accused, `accused by ${sender.id}`, sender.id);
        return {};
      },
    });
    this.detector = new FailureDetector(this.table, links, this.channel, () => this.card.current, emit, this.scheduler, options);
    this.joins = new JoinProtocol(this.table, this.card, links, cards, this.channel, () => this.detector.publishHeartbeat(), (peerId, incarnation, why) => this.detector.onAccused({ id: this.card.current.id, incarnation }, why, peerId), options);
    bus.setMemberGate((sender, kind) => this.table.admits(sender, kind));
    bus.onSeen((sender, kind) => {
      this.detector.noteAlive(sender);
      void this.joins.noteIncarnation(sender);
      // Only a broadcast proves that our SUB hears the peer (ZeroMQ's slow joiner).
      if (kind === 'broadcast') this.joins.heardFrom(sender.id);
    });
  }

  /** This node's card (its incarnation changes on rejoin). */
  get self(): NodeCard {
    return this.card.current;
  }

  peers(): Peer[] {
    return this.table.peers();
  }

  peerIds(): string[] {
    return this.table.ids();
  }

  has(id: string): boolean {
    return this.table.has(id);
  }

  /** Number of nodes in the cluster, this one included. */
  size(): number {
    return this.table.size();
  }

  /**
   * Takes a new incarnation, registers this node and starts heartbeats, then
   * joins every peer found in the store. Resolves with the number of peers
   * that did not answer.
   */
  async start(addresses: NodeAddresses): Promise<number> {
    this.card.setAddresses(addresses);
    await this.card.reincarnate();
    // Stopped while the card was registered: the leave may have withdrawn it before, so withdraw it again.
    if (this.halted) {
      await this.card.withdraw();
      return 0;
    }
    this.stopped = false;
    this.detector.start();
    // The card is renewed at the detector's pace, and new cards joined from
    // what each renewal lists; one renewal at a time, one discovery at a
    // time, and a slow join never holds a renewal back (peers read a card
    // not renewed for two heartbeats as a dead node's).
    this.cancelRenewal = this.scheduler.every(this.detector.tickMs(), () => {
      this.renewal ??= this.renew().finally(() => {
        this.renewal = undefined;
      });
    });
    return this.discover(true);
  }

  /**
   * After this node was presumed dead: a new incarnation, then a join of
   * every node in the store, members included (they take the new
   * incarnation; those that evicted it take it back). Resolves with the
   * number of peers that did not answer.
   */
  async rejoin(): Promise<number> {
    if (this.stopped) return 0;
    await this.card.reincarnate();
    // Stopped meanwhile: the new card, registered after the leave withdrew the old one, goes too.
    if (this.stopped) {
      await this.card.withdraw();
      return 0;
    }
    return this.joins.discover(true, true);
  }

  /** Members that have not acknowledged this node's current incarnation (its rejoin's join to them failed). */
  unacknowledgedBy(): string[] {
    return [...this.joins.unacknowledged].filter((id) => this.table.has(id));
  }

  /** Joins every card in the store not yet a member; see {@link JoinProtocol.discover}. */
  discover(force = false): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    return this.joins.discover(force);
  }

  /**
   * Announces a clean leave (when `announce`) and stops; peers forget this
   * node at once. Resolves once a renewal in flight is done too: it may
   * write the card back after the withdrawal (ioredis sends auto-pipelined
   * calls at the end of the turn, a transaction at once), and withdraws it
   * again itself when it sees the stop, which must happen before the node
   * closes its Redis connection (else the card stays, dead, until a later
   * node prunes it).
   */
  async stop(announce: boolean): Promise<void> {
    this.stopped = true;
    this.halted = true;
    this.detector.stop();
    this.cancelRenewal?.();
    this.cancelRenewal = undefined;
    if (announce) {
      await Promise.allSettled([this.channel.publish('node:leave', {}), this.card.withdraw(), this.renewal]);
    }
  }

  /** Renews this node's card (a leave in flight withdraws it again), then joins the new cards it listed. */
  private async renew(): Promise<void> {
    let cards: readonly NodeCard[];
    try {
      cards = await this.card.renew();
      // The leave withdrew the card while this renewal was in flight.
      if (this.stopped) {
        await this.card.withdraw();
        return;
      }
    } catch (error) {
      this.log('warn', `card store unreachable for membership: ${describeError(error)}`);
      return;
    }
    this.discovery ??= this.joins
      .joinListed(cards)
      .then(() => undefined, (error: unknown) => this.log('warn', `could not join the new cards: ${describeError(error)}`))
      .finally(() => {
        this.discovery = undefined;
      });
  }
}
