import { describeError } from '../util/describe-error';
import { v4 as uuid } from 'uuid';
import type { Cluster, Redis } from 'ioredis';
import { resolveBinding } from '../config/bindings';
import type { Log } from '../log';
import type { ClusterOptions, RedisSettings } from '../config/options';
import { Membership } from '../membership/membership';
import type { NodeCard } from '../membership/node-card';
import { NodeRegistry } from '../membership/node-registry';
import { clusterPrefix } from '../state/keys';
import { RealtimeState } from '../state/realtime-state';
import { createRedisClient } from '../state/redis-client';
import type { RealtimeHost } from '../sync/realtime-host';
import { RealtimeSync } from '../sync/realtime-sync';
import { PROTOCOL_VERSION, type Envelope } from '../transport/envelope';
import { requestEach } from '../transport/request-each';
import type { Reply } from '../transport/transport';
import { ZmqTransport } from '../transport/zmq-transport';


/** A request handler another module (e.g. Kuzzle-wide sync) plugs in. */
export type ExtraRequestHandler = (envelope: Envelope) => Promise<Reply> | undefined;
export type ExtraBroadcastHandler = (envelope: Envelope) => boolean;

/**
 * One cluster member: owns the Redis connection, the ZeroMQ transport, the
 * membership and the realtime sync, and wires messages between them. Knows
 * nothing of Kuzzle beyond the {@link RealtimeHost} it is given.
 */
export class ClusterNode {
  readonly id: string;
  readonly redis: Redis | Cluster;
  readonly state: RealtimeState;
  readonly transport: ZmqTransport;
  membership: Membership | undefined;
  sync: RealtimeSync | undefined;
  ready = false;
  readySince: number | undefined;
  private readonly extraRequests: ExtraRequestHandler[] = [];
  private readonly extraBroadcasts: ExtraBroadcastHandler[] = [];
  private readonly rejoinListeners: Array<() => Promise<void>> = [];
  private rejoining: Promise<void> | undefined;
  /** Times this node had to join again after being presumed dead. */
  rejoins = 0;
  private stopped = false;
  /** Broadcasts of a type nobody handles. */
  unknownMessages = 0;

  constructor(
    readonly options: ClusterOptions,
    redisSettings: RedisSettings,
    private readonly host: RealtimeHost,
    private readonly log: Log,
    private readonly kuzzleVersion?: string,
  ) {
    this.id = `knode-${uuid()}`;
    this.redis = createRedisClient(redisSettings, (message) => log('warn', `[cluster] redis: ${message}`));
    this.state = new RealtimeState(this.redis, { prefix: clusterPrefix(options.clusterName) });
    const router = resolveBinding('bindings.router', options.bindings.router);
    const pub = resolveBinding('bindings.pub', options.bindings.pub);
    this.transport = new ZmqTransport({ nodeId: this.id, router, pub, log });
  }

  /** True while this node joins again and writes its subscriptions back. */
  get resyncing(): boolean {
    return this.rejoining !== undefined;
  }

  /** Called after this node joined again (it may have missed broadcasts meanwhile). */
  onRejoined(listener: () => Promise<void>): void {
    this.rejoinListeners.push(listener);
  }

  onRequest(handler: ExtraRequestHandler): void {
    this.extraRequests.push(handler);
  }

  onBroadcast(handler: ExtraBroadcastHandler): void {
    this.extraBroadcasts.push(handler);
  }

  /** Binds, joins every peer found in Redis and loads the shared state. */
  async start(): Promise<void> {
    await this.state.init();
    const addresses = await this.transport.bind();
    const card: NodeCard = { id: this.id, addresses, startedAt: Date.now(), protocol: PROTOCOL_VERSION, kuzzleVersion: this.kuzzleVersion };
    const { timers } = this.options;
    const registry = new NodeRegistry(this.redis, clusterPrefix(this.options.clusterName), timers.heartbeatTimeout * 2);
    const membership = new Membership(card, this.transport, registry, {
      heartbeatMs: timers.heartbeat,
      heartbeatTimeoutMs: timers.heartbeatTimeout,
      discoverTimeoutMs: timers.discoverTimeout,
      joinAttemptIntervalMs: timers.joinAttemptInterval,
      log: this.log,
    });
    this.membership = membership;
    this.sync = new RealtimeSync(this.state, this.transport, this.host, {
      nodeId: this.id,
      ackTimeoutMs: timers.waitForMissingRooms,
      gapWaitMs: timers.waitForMissingRooms,
      peers: () => membership.peerIds(),
      log: this.log,
    });
    this.transport.onBroadcast((envelope) => this.dispatchBroadcast(envelope));
    this.transport.onRequest((envelope) => this.dispatchRequest(envelope));
    membership.on('peer:removed', (id, reason) => void this.peerRemoved(id, reason));
    membership.on('self:suspect', (why) => void this.rejoin(why));

    // Peers listed in Redis that do not answer yet may still be starting:
    // retry a few times before serving, so clients do not land on a node
    // that misses part of the cluster.
    let unanswered = await membership.start();
    for (let attempt = 0; unanswered > 0 && attempt < this.options.retryJoin; attempt++) {
      this.log('info', `[cluster] ${unanswered} known node(s) did not answer, retrying to join`);
      await new Promise((resolve) => setTimeout(resolve, timers.joinAttemptInterval));
      unanswered = await membership.discover(true);
    }
    const rooms = await this.sync.resyncAll();
    this.ready = true;
    this.readySince = Date.now();
    this.log('info', `[cluster] node ${this.id} ready: ${membership.size()} node(s), ${rooms} room(s) loaded`);
  }

  private dispatchBroadcast(envelope: Envelope): void {
    this.membership?.noteAlive(envelope.from);
    if (this.membership?.handleBroadcast(envelope)) return;
    if (this.sync?.handleBroadcast(envelope)) return;
    if (this.extraBroadcasts.some((handler) => handler(envelope))) return;
    this.unknownMessages++;
  }

  private dispatchRequest(envelope: Envelope): Promise<Reply> {
    const membership = this.membership;
    if (!membership) return Promise.reject(new Error('not started'));
    membership.noteAlive(envelope.from);
    if (envelope.type === 'join') {
      return membership.acceptJoin(envelope.body).then((card) => ({ type: 'joined', body: { card } }));
    }
    // Only members may change this node's state: a stranger must join first.
    if (!membership.has(envelope.from)) {
      this.unknownMessages++;
      return Promise.reject(new Error(`${envelope.from} is not a member of this cluster`));
    }
    switch (envelope.type) {
      case 'reset:local':
        if (!this.sync) return Promise.reject(new Error('not started'));
        return this.sync.reassert().then((summary) => ({ type: 'reset:done', body: summary }));
      default: {
        const fromSync = this.sync?.handleRequest(envelope);
        if (fromSync) return fromSync;
        for (const handler of this.extraRequests) {
          const reply = handler(envelope);
          if (reply) return reply;
        }
        this.unknownMessages++;
        return Promise.reject(new Error(`unknown request type ${envelope.type}`));
      }
    }
  }

  private async peerRemoved(id: string, reason: string): Promise<void> {
    if (this.stopped || !this.sync) return;
    try {
      const removed = await this.sync.purgeNode(id);
      this.log('info', `[cluster] purged ${id} (${reason}): ${removed} room(s) removed`);
      if (reason === 'timeout') {
        await this.transport.publish('node:evicted', { id });
      }
    } catch (error) {
      this.log('error', `[cluster] could not purge ${id}: ${describeError(error)}`);
    }
  }

  /** After being presumed dead: join everyone again and restore our subscriptions. */
  private rejoin(why: string): Promise<void> {
    if (this.stopped || !this.membership || !this.sync) return Promise.resolve();
    if (!this.rejoining) {
      const membership = this.membership;
      const sync = this.sync;
      this.log('warn', `[cluster] ${this.id} resyncing: ${why}`);
      this.rejoins++;
      this.rejoining = (async () => {
        try {
          await membership.rejoinAll();
          await sync.reassert();
          await sync.resyncAll();
          for (const listener of this.rejoinListeners) await listener();
        } catch (error) {
          this.log('error', `[cluster] resync failed: ${describeError(error)}`);
        } finally {
          this.rejoining = undefined;
        }
      })();
    }
    return this.rejoining;
  }

  /** Asks every peer to write its live subscriptions back to Redis; ghosts are purged. */
  async reset(): Promise<{ nodes: Array<{ id: string; rooms?: number; subscribers?: number; error?: string }>; ghostsPurged: string[] }> {
    if (!this.sync || !this.membership) throw new Error('not started');
    const live = new Set([this.id, ...this.membership.peerIds()]);
    const ghosts = new Set<string>();
    for (const snapshot of await this.state.getAll()) {
      for (const room of snapshot.rooms) for (const nodeId of Object.keys(room.counts)) if (!live.has(nodeId)) ghosts.add(nodeId);
    }
    for (const ghost of ghosts) await this.sync.purgeNode(ghost);
    const own = await this.sync.reassert();
    const nodes: Array<{ id: string; rooms?: number; subscribers?: number; error?: string }> = [{ id: this.id, ...own }];
    for (const answer of await requestEach(this.transport, this.membership.peerIds(), 'reset:local', {}, 10_000)) {
      if (answer.reply) nodes.push({ id: answer.peer, ...(answer.reply.body as { rooms: number; subscribers: number }) });
      else nodes.push({ id: answer.peer, error: answer.error });
    }
    await this.sync.resyncAll();
    return { nodes, ghostsPurged: [...ghosts] };
  }

  /**
   * Graceful leave: this node's subscribers are purged from Redis (peers are
   * told which rooms are gone), then peers and Redis forget the node.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ready = false;
    this.sync?.beginLeave();
    try {
      const removed = await this.sync?.purgeNode(this.id);
      this.log('info', `[cluster] leaving: ${removed ?? 0} room(s) removed with this node's subscriptions`);
    } catch (error) {
      this.log('error', `[cluster] could not purge this node's subscriptions: ${describeError(error)}`);
    }
    this.sync?.stop();
    await this.membership?.stop(true);
    await this.transport.close({ flushMs: 500 });
    this.redis.disconnect();
  }
}
