import { MessageBus } from '../bus/message-bus';
import type { Handlers, MessageMap } from '../bus/message-spec';
import type { ClusterOptions } from '../config/options';
import { Membership, type PeerRemovalReason } from '../membership/membership';
import { ownerOf, parseOwner, type NodeCard } from '../membership/node-card';
import { peerLinksOver } from '../membership/peer-links';
import type { StateAvailability } from '../state/availability';
import type { RoomTally } from '../state/realtime-store';
import type { SharedRecords } from '../state/shared-records';
import type { SharedState, StateMark } from '../state/shared-state';
import type { RealtimeHost } from '../sync/realtime-host';
import { RealtimeSync } from '../sync/realtime-sync';
import { PROTOCOL_VERSION } from '../transport/envelope';
import type { Transport } from '../transport/transport';
import { ClusterError } from '../util/cluster-error';
import { delay } from '../util/delay';
import { describeError } from '../util/describe-error';
import { withTimeout } from '../util/with-timeout';
import type { Log } from '../util/log';
import { realScheduler, type Scheduler } from '../util/scheduler';
import type { ClusterMetrics } from './cluster-metrics';
import { buildStatus, unhealthyReason, type ClusterStatus } from './cluster-status';
import { curveKeysOf } from './exposure';
import { MemberChannel } from './member-channel';
import { NodeTrust } from './node-trust';
import { fateOfRemovedPeer } from './removal-check';
import type { RealtimePort } from './realtime-port';
import { SelfRepair } from './self-repair';

export interface ClusterNodeSettings {
  /** The node's id: Kuzzle's own node id, so that logs and answers name nodes one way. */
  id: string;
  kuzzleVersion?: string;
  options: ClusterOptions;
  host: RealtimeHost;
  log: Log;
}

/**
 * What a node is built from (see `buildClusterNode` for the real ones):
 * handed in, so that unit tests run nodes on in-memory doubles.
 */
export interface ClusterNodeParts {
  transport: Transport;
  state: SharedState;
  /** Shared with the state, whose retries report to it. */
  availability: StateAvailability;
  /** Where periodic work runs; real timers unless a test freezes this node. */
  scheduler?: Scheduler;
}

/** What `POST /_plugin/cluster/reset` answers. */
export interface ResetSummary {
  nodes: Array<{ id: string; error?: string } & Partial<RoomTally>>;
  ghostsPurged: string[];
}

type CatchUpListener = (reason: string) => Promise<void>;

/**
 * One member of the cluster: wires the message bus, the membership, the
 * shared state and the realtime sync over the parts it is given, and keeps
 * them right when things go wrong (rejoin under a new incarnation, purge of
 * removed peers, self-repair). The Kuzzle glue sees only its methods: the
 * realtime port, `register` for its own messages, shared records, status
 * and lifecycle.
 */
export class ClusterNode {
  readonly id: string;
  private readonly options: ClusterOptions;
  private readonly log: Log;
  private readonly transport: Transport;
  private readonly state: SharedState;
  private readonly availability: StateAvailability;
  private readonly bus: MessageBus;
  private readonly membership: Membership;
  private readonly sync: RealtimeSync;
  private readonly repair: SelfRepair;
  private readonly trust: NodeTrust;
  private readonly catchUpListeners: CatchUpListener[] = [];
  private readonly stateLostListeners: Array<() => Promise<void>> = [];
  // Every reason from the start: a counter that appears at 1 hides its first increase from Prometheus.
  private readonly evictions: Record<PeerRemovalReason, number> = { timeout: 0, connectionLost: 0, left: 0, replaced: 0 };
  private ready = false;
  private draining = false;
  private stopped = false;
  private readySince: number | undefined;
  private rejoins = 0;
  private rejoining: Promise<void> | undefined;
  private rejoinAgain = false;
  /** Incarnation the last rejoin pass left (or is leaving): suspicions about it or older ones need no other pass. */
  private leftIncarnation = 0;
  private catchUpError: string | undefined;
  private resetting = false;

  constructor(settings: ClusterNodeSettings, parts: ClusterNodeParts) {
    const { options, log } = settings;
    this.id = settings.id;
    this.options = options;
    this.log = log;
    this.transport = parts.transport;
    this.state = parts.state;
    this.availability = parts.availability;
    const scheduler = parts.scheduler ?? realScheduler;
    this.trust = new NodeTrust(this.state.cards, PROTOCOL_VERSION, options.curve ? curveKeysOf(options.curve) : undefined, log);
    this.bus = new MessageBus(this.transport, log);
    // Requests prove their sender both ways: signed here, checked by the bus.
    this.transport.setSigner((peerId, input) => this.trust.identities.sign(peerId, input));
    this.bus.setRequestVerifier((sender, envelope) => this.trust.verify(sender, envelope));
    const card: NodeCard = {
      id: this.id,
      addresses: { router: '', pub: '' },
      incarnation: 0,
      startedAt: Date.now(),
      protocol: PROTOCOL_VERSION,
      kuzzleVersion: settings.kuzzleVersion,
      identityKey: this.trust.identities.own.publicKey,
    };
    const { timers } = options;
    this.membership = new Membership(card, this.bus, peerLinksOver(this.transport), this.trust.cards, {
      heartbeatMs: timers.heartbeat,
      heartbeatTimeoutMs: timers.heartbeatTimeout,
      discoverTimeoutMs: timers.discoverTimeout,
      joinAttemptIntervalMs: timers.joinAttemptInterval,
      scheduler,
      log,
    });
    this.sync = new RealtimeSync(this.state.realtime, this.bus, settings.host, {
      owner: () => ownerOf(this.membership.self),
      peers: () => this.membership.peers().map(({ card }) => card),
      ackTimeoutMs: timers.waitForMissingRooms,
      log,
    });
    this.repair = new SelfRepair(this.state.epoch, this.state.realtime, this.sync, () => this.membership.self, {
      stateLost: () => this.runAll('writing back after the state was lost', this.stateLostListeners.map((listener) => () => listener())),
      catchUp: (reason) => this.catchUp(reason),
    }, this.availability, {
      epochMs: timers.heartbeat,
      antiEntropyMs: timers.antiEntropy,
      isLive: (owner) => this.isLive(owner),
      scheduler,
      log,
    });
    this.transport.onGap((peerId, expected, received) => this.repair.gap(peerId, received - expected));
    this.membership.on('peer:removed', (removed, reason) => void this.peerRemoved(removed, reason));
    this.membership.on('peer:added', (peer, { returning }) => {
      if (returning && this.ready) void this.peerReturned(peer.card.id);
    });
    this.membership.on('self:suspect', (why, incarnation) => this.rejoin(why, incarnation));
  }

  /**
   * Waits until the shared state answers (bounded by `timers.redisConnect`),
   * so that a wrong address, password or TLS setting stops Kuzzle at
   * start-up, saying which (never the password).
   */
  connectState(): Promise<void> {
    return this.state.connect();
  }

  /**
   * Binds, joins every peer found in Redis and loads the shared realtime
   * state. A start that fails, or that {@link stop} interrupts, leaves
   * nothing running: see {@link abandonStart}.
   */
  async start(): Promise<void> {
    try {
      await this.join();
    } catch (error) {
      await this.abandonStart(error);
      throw error;
    }
    this.ready = true;
    this.readySince = Date.now();
    this.log('info', `node ready: incarnation ${this.membership.self.incarnation}, ${this.membership.size()} node(s)`);
  }

  private async join(): Promise<void> {
    const step = async <T>(promise: Promise<T>): Promise<T> => {
      const result = await promise;
      if (this.stopped) throw new ClusterError('KPC_STOPPED', 'the node was stopped while it started');
      return result;
    };
    await step(this.trust.refuseOtherProtocols(this.options.timers));
    const addresses = await step(this.transport.bind());
    // Peers listed in Redis that do not answer yet may still be starting:
    // retry a few times before serving, so that clients do not land on a
    // node that misses part of the cluster.
    let unanswered = await step(this.membership.start(addresses));
    for (let attempt = 0; unanswered > 0 && attempt < this.options.retryJoin; attempt++) {
      this.log('info', `${unanswered} known node(s) did not answer, retrying to join`);
      await step(delay(this.options.timers.joinAttemptInterval));
      unanswered = await step(this.membership.discover(true));
    }
    await step(this.repair.start());
    // A rollover step may have added a key: records are sealed for it too.
    await step(this.trust.resealRecords().catch((error: unknown) => this.log('warn', `could not seal the shared records again: ${describeError(error)}`)));
  }

  /**
   * A failed start must not leave a node that peers count in and no client
   * reaches: its card renewed and its heartbeats sent while the process
   * lives (an application that does not exit on a failed `app.start()`).
   * Also for a start that failed after this one (the Kuzzle-wide catch-up).
   * Peers that accepted its join are told it left; the sockets and the Redis
   * connection close, so the process can exit. No subscription exists yet
   * (Kuzzle listens only after the start): nothing to purge. Bounded by
   * `timers.leaveTimeout`, as a leave: Redis may be what failed.
   */
  async abandonStart(error: unknown): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ready = false;
    this.log('error', `start failed, leaving the cluster: ${describeError(error)}`);
    this.repair.stop();
    this.sync.stop();
    await withTimeout(this.membership.stop(true), this.options.timers.leaveTimeout).catch(() => this.log('warn', 'the leave of the failed start did not end in time'));
    this.bus.stop();
    // The leave goes out first (a socket closed at once drops what it had not sent).
    await this.transport.close({ flushMs: 500 });
    this.state.close();
  }

  /** The realtime operations the Kuzzle glue forwards its events to. */
  get realtime(): RealtimePort {
    return this.sync;
  }

  /** Registers the glue's own message types; requests of the returned channel go to current members. */
  register<M extends MessageMap>(messages: M, handlers: Handlers<M>): MemberChannel<M> {
    return new MemberChannel(this.bus.register(messages, handlers), () => this.membership.peerIds());
  }

  /** A named set of records kept in the shared state (survives node restarts). */
  records(name: string): SharedRecords {
    return this.trust.sealRecords(this.state.records(name), name);
  }

  /** This node's mark in the shared state (see StateMark). */
  stateMark(): StateMark {
    return this.state.mark(this.id);
  }

  /** Called after this node may have missed Kuzzle-wide changes: it joined again, a peer came back, broadcasts were lost. */
  onCatchUp(listener: CatchUpListener): void {
    this.catchUpListeners.push(listener);
  }

  /** Called after Redis lost the cluster's state and the realtime state was written back. */
  onStateLost(listener: () => Promise<void>): void {
    this.stateLostListeners.push(listener);
  }

  /** The glue reports how its last catch-up went, for status. */
  reportCatchUp(error: string | undefined): void {
    this.catchUpError = error;
  }

  status(): ClusterStatus {
    return buildStatus(this.statusSources());
  }

  /** The status, plus the counts and latencies that cost a Redis call or a walk of local rooms. */
  async metrics(): Promise<ClusterMetrics> {
    return {
      status: this.status(),
      local: this.sync.localCounts(),
      clusterRooms: await this.state.realtime.countRooms().catch(() => undefined),
      scriptLatency: this.state.realtime.scriptLatency(),
      badFilters: this.sync.badFilters,
    };
  }

  /** Why this node must not get traffic now; undefined when healthy. */
  unhealthy(): string | undefined {
    return unhealthyReason(this.healthSources());
  }

  get isReady(): boolean {
    return this.ready;
  }

  get minimumNodes(): number {
    return this.options.minimumNodes;
  }

  get members(): number {
    return this.membership.size();
  }

  /** Rebuilds the shared realtime state from every live node's subscriptions; purges leftovers of gone nodes. */
  /**
   * @throws ClusterError KPC_NOT_READY before the node joined, KPC_RESET_RUNNING
   * while a reset started here runs (one at a time: a second would only
   * redo the same writes under the first).
   */
  async reset(): Promise<ResetSummary> {
    if (!this.ready) throw new ClusterError('KPC_NOT_READY', 'this node has not joined the cluster yet');
    if (this.resetting) throw new ClusterError('KPC_RESET_RUNNING', 'a reset started on this node is still running');
    this.resetting = true;
    try {
      return await this.resetCluster();
    } finally {
      this.resetting = false;
    }
  }

  private async resetCluster(): Promise<ResetSummary> {
    const ghostsPurged = await this.repair.sweepGhosts();
    const own = await this.sync.rewrite();
    const nodes: ResetSummary['nodes'] = [{ id: this.id, ...own }];
    for (const answer of await this.sync.resetPeers(10_000)) {
      nodes.push(answer.reply ? { id: answer.peer, ...answer.reply } : { id: answer.peer, error: describeError(answer.error) });
    }
    return { nodes, ghostsPurged };
  }

  /** First step of a graceful stop: health turns 503 so that balancers move traffic away; everything else goes on. */
  drain(): void {
    if (!this.draining) this.log('info', 'draining: health answers 503, changes are still forwarded until in-flight requests are done');
    this.draining = true;
  }

  /**
   * Graceful leave: this node's subscribers are purged from Redis (peers
   * are told which rooms are gone), then peers and Redis forget the node.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.draining = true;
    this.ready = false;
    this.sync.beginLeave();
    this.repair.stop();
    try {
      const removed = await this.sync.purgeOwnSubscribers();
      this.log('info', `leaving: ${removed} room(s) removed with this node's subscriptions`);
    } catch (error) {
      this.log('error', `could not purge this node's subscriptions: ${describeError(error)}`);
    }
    this.sync.stop();
    await this.membership.stop(true);
    // After peers were told: they forget this node at once, whatever this check waits for.
    await this.repair.repairBeforeLeaving();
    this.bus.stop();
    await this.transport.close({ flushMs: 500 });
    this.state.close();
  }

  /**
   * Only what health needs: load balancers poll it every few seconds, and the
   * whole status (every counter copied) would be garbage each time.
   */
  private healthSources(): Parameters<typeof unhealthyReason>[0] {
    return {
      peers: this.membership.peers(),
      unacknowledgedBy: this.membership.unacknowledgedBy(),
      ready: this.ready,
      draining: this.draining,
      minimumNodes: this.options.minimumNodes,
      repair: { ...this.repair.stats, stateUnreachable: this.availability.currentReason },
      redis: this.availability.stats(),
      unreachableBoundMs: this.options.timers.stateUnreachable,
      catchUpError: this.catchUpError,
    };
  }

  private statusSources(): Parameters<typeof buildStatus>[0] {
    return {
      ...this.healthSources(),
      card: this.membership.self,
      readySince: this.readySince,
      resyncing: this.rejoining !== undefined,
      rejoins: this.rejoins,
      transport: this.transport.stats(),
      bus: this.bus.stats(),
      evictions: { ...this.evictions },
      trust: this.trust.snapshot(),
      changes: this.sync.changes,
      backlog: this.bus.backlogStats(),
    };
  }

  private async peerRemoved(card: NodeCard, reason: PeerRemovalReason): Promise<void> {
    this.evictions[reason] += 1;
    if (this.stopped) return;
    try {
      // A peer that left is gone; one this node stopped hearing may not be,
      // nor one "replaced" by a card on its sockets (a node restarted on
      // them stops renewing its card at once; a member lying about its
      // sockets must not get a live node's subscriptions purged).
      if (reason !== 'left') {
        const fate = await fateOfRemovedPeer(card, this.trust.cards, this.options.timers);
        if (this.stopped) return;
        if (fate !== 'purge') {
          this.log('info', `${ownerOf(card)} removed here (${reason}) but ${fate === 'rejoined' ? 'joined again' : 'still renews its card'}: its subscriptions stay`);
          return;
        }
      }
      const removed = await this.sync.purgeOwner(ownerOf(card));
      this.log('info', `purged ${ownerOf(card)} (${reason}): ${removed} room(s) removed`);
    } catch (error) {
      this.log('error', `could not purge ${ownerOf(card)} (the anti-entropy sweep will retry): ${describeError(error)}`);
    }
  }

  /** A peer this node had removed is back: what happened meanwhile may have been missed on either side. */
  private async peerReturned(peerId: string): Promise<void> {
    try {
      await this.catchUp(`${peerId} came back`);
    } catch (error) {
      this.log('error', `could not reconcile with ${peerId}: ${describeError(error)}`);
    }
  }

  /**
   * After being presumed dead: a new incarnation, a join of everyone, this
   * node's subscriptions written back under the new incarnation (the old
   * one purged) and Kuzzle-wide state caught up.
   * A suspicion arriving meanwhile runs another pass after this one, unless
   * it is about the incarnation this pass leaves (several peers evicted it;
   * the same burst of messages tells it more than once) or an older one.
   */
  private rejoin(why: string, incarnation: number): void {
    if (this.stopped) return;
    if (incarnation < this.membership.self.incarnation || incarnation <= this.leftIncarnation) {
      this.log('debug', `ignoring a suspicion about incarnation ${incarnation}, already left: ${why}`);
      return;
    }
    if (this.rejoining) {
      this.rejoinAgain = true;
      return;
    }
    this.rejoins++;
    this.log('warn', `joining the cluster again: ${why}`);
    this.rejoining = (async () => {
      // The incarnations left behind and not purged yet: a pass that fails
      // after taking a new one leaves one more, and the first one must still
      // be purged where this node holds rooms (see RealtimeRepair.rewrite).
      const leftBehind: string[] = [];
      do {
        this.rejoinAgain = false;
        const started = Date.now();
        this.leftIncarnation = this.membership.self.incarnation;
        const previous = ownerOf(this.membership.self);
        if (!leftBehind.includes(previous)) leftBehind.push(previous);
        try {
          await this.membership.rejoin();
          // Caught up beside the rewrite, not after it: the node serves
          // requests meanwhile, and rights or tokens changed while it was
          // out must not stay in force for as long as every subscription
          // takes to be written back (retried through a Redis outage).
          // Never rejects: each listener's failure is logged.
          const caughtUp = this.catchUp(`joined again: ${why}`);
          const written = await this.sync.rewrite(leftBehind).finally(() => caughtUp);
          leftBehind.length = 0;
          this.log('info', `joined again in ${Date.now() - started} ms (incarnation ${this.membership.self.incarnation}): ${written.rooms} room(s), ${written.subscribers} subscriber(s) written back`);
        } catch (error) {
          this.log('error', `joining again failed, retrying: ${describeError(error)}`);
          this.rejoinAgain = true;
          await delay(this.options.timers.joinAttemptInterval);
        }
      } while (this.rejoinAgain && !this.stopped);
    })().finally(() => {
      this.rejoining = undefined;
    });
  }

  private async catchUp(reason: string): Promise<void> {
    await this.runAll('catching up', this.catchUpListeners.map((listener) => () => listener(reason)));
  }

  /** Runs every listener, one after the other; one failing does not stop the others. */
  private async runAll(what: string, tasks: Array<() => Promise<void>>): Promise<void> {
    for (const task of tasks) {
      try {
        await task();
      } catch (error) {
        this.log('error', `${what} failed: ${describeError(error)}`);
      }
    }
  }

  /** Whether an owner in the shared state belongs to a live node (see SelfRepair.sweepGhosts). */
  private async isLive(owner: string): Promise<boolean> {
    const { id, incarnation } = parseOwner(owner);
    if (id === this.id) return incarnation === this.membership.self.incarnation || this.rejoining !== undefined;
    if (this.membership.has(id)) return true;
    return (await this.trust.cards.get(id)) !== undefined;
  }
}
