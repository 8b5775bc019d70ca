import type { Log } from '../log';
import type { SerializedRequest } from '../plugin/kuzzle-types';
import type { RealtimeState } from '../state/realtime-state';
import type { Envelope } from '../transport/envelope';
import type { Reply, Transport } from '../transport/transport';
import { LocalRooms, type LocalRoom } from './local-rooms';
import type { RealtimeHost, RoomDescriptor } from './realtime-host';
import { parseDocumentNotice, parseRewritten, parseRoomDescriptor, parseRoomVersion, parseUserNotice } from './realtime-messages';
import { RealtimeRepair } from './realtime-repair';
import { stripRequest } from './strip-request';
import { VersionTracker } from './version-tracker';
import { requestEach } from '../transport/request-each';
import { describeError } from '../util/describe-error';

export interface RealtimeSyncOptions {
  nodeId: string;
  /** How long a new subscription waits for every peer's acknowledgement. */
  ackTimeoutMs: number;
  /** How long a version gap may stay open before the collection is reloaded from Redis. */
  gapWaitMs: number;
  peers: () => string[];
  log: Log;
}

/**
 * Keeps realtime subscriptions cluster-wide: every node holds every room's
 * filter in its Koncorde (so a change anywhere finds the rooms to notify),
 * Redis holds who subscribes where, and notifications travel to the nodes
 * that hold the subscribers.
 */
export class RealtimeSync {
  private readonly local: LocalRooms;
  private readonly versions: VersionTracker;
  private readonly repair: RealtimeRepair;
  /**
   * Set when the node leaves: Kuzzle's own shutdown then unsubscribes every
   * client, which the cluster no longer needs to hear (the leave purges them).
   */
  private leaving = false;
  private stopped = false;
  /** Dropped peer messages, by reason, for status and metrics. */
  readonly dropped = { malformed: 0 };

  constructor(
    private readonly state: RealtimeState,
    private readonly transport: Transport,
    private readonly host: RealtimeHost,
    private readonly options: RealtimeSyncOptions,
  ) {
    this.local = new LocalRooms(host);
    this.versions = new VersionTracker(options.gapWaitMs, (index, collection) => this.repair.resyncCollection(index, collection));
    this.repair = new RealtimeRepair(state, host, this.local, this.versions, {
      nodeId: options.nodeId,
      publish: (type, body) => this.publish(type, body),
      announce: (roomId, version) => {
        const room = this.local.get(roomId);
        return room ? this.announceRoom(room, version) : Promise.resolve();
      },
    });
  }

  /** Reloads triggered by version gaps. */
  get resyncs(): number {
    return this.versions.resyncs;
  }

  hasLocalSubscribers(roomId: string): boolean {
    return this.local.has(roomId);
  }

  /**
   * A connection subscribed (or joined) a room on this node. Resolves once
   * the room is live cluster-wide; on failure this node's view is rolled back
   * and the error reaches the client.
   */
  async subscribed(room: RoomDescriptor, connectionId: string): Promise<void> {
    if (this.leaving) return;
    const existing = this.local.get(room.roomId);
    if (!existing) {
      const local = this.local.create(room, connectionId);
      // Kuzzle skips Koncorde when it already lists the room (e.g. created
      // for a join): make sure the filter is there.
      this.host.storeFilter(local);
      local.announced = this.firstSubscriber(local, connectionId);
      return local.announced;
    }
    if (existing.customers.has(connectionId)) return existing.announced;
    existing.customers.add(connectionId);
    const announcedBefore = await existing.announced.then(() => true, () => false);
    const version = await this.countInRedis(existing, connectionId);
    if (announcedBefore) {
      await this.publish('room:count', { index: room.index, collection: room.collection, roomId: room.roomId, version }).catch((error: Error) =>
        this.options.log('warn', `[cluster] count change of room ${room.roomId} not broadcast: ${error.message}`),
      );
    } else {
      // The first subscriber failed to announce the room: this one does.
      existing.announced = this.announceRoom(existing, version);
      await existing.announced;
    }
  }

  private async firstSubscriber(local: LocalRoom, connectionId: string): Promise<void> {
    const version = await this.countInRedis(local, connectionId);
    await this.announceRoom(local, version);
  }

  /**
   * Counts the subscriber in Redis; if that fails, this node forgets it and
   * the error reaches the client. Once counted, the subscription stands:
   * later failures (telling peers) are logged and repaired, never undone
   * half-way.
   */
  private async countInRedis(room: LocalRoom, connectionId: string): Promise<number> {
    try {
      const result = await this.state.addSubscriber(room, this.options.nodeId);
      this.versions.note(room.index, room.collection, result.version);
      return result.version;
    } catch (error) {
      this.local.removeCustomer(room.roomId, connectionId);
      throw error;
    }
  }

  /**
   * Makes sure every peer has the room's filter before the subscription is
   * acknowledged to the client, so a change made anywhere right after is
   * notified. A peer that does not answer in time is logged: the heartbeat
   * decides whether it is gone.
   */
  private async announceRoom(room: RoomDescriptor, version: number): Promise<void> {
    const body = { index: room.index, collection: room.collection, roomId: room.roomId, filters: room.filters, version };
    const answers = await requestEach(this.transport, this.options.peers(), 'room:add', body, this.options.ackTimeoutMs);
    const failed = answers.filter((answer) => answer.error !== undefined);
    if (failed.length === 0) return;
    for (const { peer, error } of failed) {
      this.options.log('warn', `[cluster] room ${room.roomId} not acknowledged by ${peer}: ${error}`);
    }
    // A slow peer reloads the collection from Redis when this reaches it; a dead one is evicted.
    await this.publish('state:rewritten', { collections: [{ index: room.index, collection: room.collection, version }] }).catch((error: unknown) =>
      this.options.log('warn', `[cluster] reload request for ${room.index}/${room.collection} not broadcast: ${describeError(error)}`),
    );
  }

  /** A connection left a room on this node. */
  async unsubscribed(roomId: string, connectionId: string): Promise<void> {
    if (this.leaving) return;
    const local = this.local.removeCustomer(roomId, connectionId);
    if (!local) return;
    const result = await this.state.removeSubscriber(local.index, local.collection, roomId, this.options.nodeId);
    this.versions.note(local.index, local.collection, result.version);
    const body = { index: local.index, collection: local.collection, roomId, version: result.version };
    if (result.removed) {
      this.local.dropFilterIfUnused(roomId);
      await this.publish('room:remove', body);
      return;
    }
    if (!this.local.has(roomId)) {
      // Kuzzle may have dropped the filter just before a peer subscribed
      // (between our check and its removal): other nodes still need it here.
      this.host.storeFilter(local);
    }
    await this.publish('room:count', body);
  }

  /**
   * Whether Kuzzle may drop the room's filter now that its last local
   * subscriber is leaving: not while other nodes still have subscribers,
   * or changes made through this node would no longer reach them.
   */
  async mayDropFilter(roomId: string): Promise<boolean> {
    const total = (await this.state.countRoom(roomId)) ?? 0;
    const ours = this.local.get(roomId)?.customers.size ?? 0;
    return total - ours <= 0;
  }

  /** Forwards a local document notification to the peers. */
  async forwardDocument(payload: { rooms: string[]; request: SerializedRequest; scope: string; action: string; content: unknown }): Promise<void> {
    await this.publish('notify:document', { ...payload, request: stripRequest(payload.request) });
  }

  /** Forwards a local user notification (join/leave) to the peers. */
  async forwardUser(payload: { room: string; request: SerializedRequest; scope: string; content: unknown }): Promise<void> {
    await this.publish('notify:user', { ...payload, request: stripRequest(payload.request) });
  }

  private async publish(type: string, body: unknown): Promise<void> {
    if (this.stopped) return;
    await this.transport.publish(type, body);
  }

  /** Handles realtime broadcasts from peers; false for other types. */
  handleBroadcast(envelope: Envelope): boolean {
    switch (envelope.type) {
      case 'notify:document': {
        const notice = parseDocumentNotice(envelope.body);
        if (!notice) return this.malformed(envelope);
        this.background(this.host.dispatchDocument(notice), 'dispatch');
        return true;
      }
      case 'notify:user': {
        const notice = parseUserNotice(envelope.body);
        if (!notice) return this.malformed(envelope);
        this.background(this.host.dispatchUser(notice), 'dispatch');
        return true;
      }
      case 'room:count': {
        const change = parseRoomVersion(envelope.body);
        if (!change) return this.malformed(envelope);
        this.versions.note(change.index, change.collection, change.version);
        return true;
      }
      case 'room:remove': {
        const change = parseRoomVersion(envelope.body);
        if (!change?.roomId) return this.malformed(envelope);
        this.versions.note(change.index, change.collection, change.version);
        this.background(this.roomRemoved(change.roomId), 'room removal');
        return true;
      }
      case 'state:rewritten': {
        const collections = parseRewritten(envelope.body);
        if (!collections) return this.malformed(envelope);
        this.background(this.repair.reloadRewritten(collections), 'reload');
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * A peer says a room is gone. `room:remove` (broadcast) and `room:add`
   * (request) travel on different sockets: if the room was created again
   * meanwhile, Redis knows it and the filter stays.
   */
  private async roomRemoved(roomId: string): Promise<void> {
    if ((await this.state.countRoom(roomId)) === undefined) this.local.dropFilterIfUnused(roomId);
  }

  /** Handles realtime requests from peers; undefined for other types. */
  handleRequest(envelope: Envelope): Promise<Reply> | undefined {
    if (envelope.type !== 'room:add') return undefined;
    const room = parseRoomDescriptor(envelope.body);
    const version = parseRoomVersion(envelope.body);
    if (!room || !version) {
      this.malformed(envelope);
      return Promise.reject(new Error('malformed room:add'));
    }
    this.host.storeFilter(room);
    this.versions.note(room.index, room.collection, version.version);
    return Promise.resolve({ type: 'room:added', body: { roomId: room.roomId } });
  }

  private background(work: Promise<unknown>, what: string): void {
    work.catch((error: Error) => this.options.log('error', `[cluster] ${what} failed: ${error.message}`));
  }

  private malformed(envelope: Envelope): true {
    this.dropped.malformed++;
    this.options.log('debug', `[cluster] dropped malformed ${envelope.type} from ${envelope.from}`);
    return true;
  }

  resyncAll(): Promise<number> {
    return this.repair.resyncAll();
  }

  reassert(): Promise<{ rooms: number; subscribers: number }> {
    return this.repair.reassert();
  }

  purgeNode(nodeId: string): Promise<number> {
    return this.repair.purgeNode(nodeId);
  }

  /** First step of a leave: local subscription changes are no longer sent to Redis. */
  beginLeave(): void {
    this.leaving = true;
  }

  stop(): void {
    this.leaving = true;
    this.stopped = true;
    this.versions.stop();
  }
}
