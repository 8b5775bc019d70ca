import type { Log } from '../log';
import type { Envelope } from '../transport/envelope';
import type { Reply, Transport } from '../transport/transport';
import type { CollectionSnapshot, RealtimeState } from '../state/realtime-state';
import type { RealtimeHost, RoomDescriptor } from './realtime-host';
import { parseDocumentNotice, parseRoomDescriptor, parseRoomVersion, parseUserNotice } from './realtime-messages';
import { stripRequest } from './strip-request';
import type { SerializedRequest } from '../plugin/kuzzle-types';
import { VersionTracker } from './version-tracker';

interface LocalRoom extends RoomDescriptor {
  /** Connection ids subscribed to the room on this node. */
  customers: Set<string>;
}

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
  private readonly local = new Map<string, LocalRoom>();
  private readonly versions: VersionTracker;
  /** Set on leave: Kuzzle's own shutdown then unsubscribes everyone, which the cluster no longer needs to hear. */
  private stopped = false;
  /** Dropped peer messages, by reason, for status and metrics. */
  readonly dropped = { malformed: 0 };

  constructor(
    private readonly state: RealtimeState,
    private readonly transport: Transport,
    private readonly host: RealtimeHost,
    private readonly options: RealtimeSyncOptions,
  ) {
    this.versions = new VersionTracker(options.gapWaitMs, (index, collection) => this.resyncCollection(index, collection));
  }

  /** Rooms with subscribers on this node and their counts. */
  localRooms(): Array<RoomDescriptor & { count: number }> {
    return [...this.local.values()].map(({ customers, ...room }) => ({ ...room, count: customers.size }));
  }

  hasLocalSubscribers(roomId: string): boolean {
    return this.local.has(roomId);
  }

  /** A connection subscribed (or joined) a room on this node. */
  async subscribed(room: RoomDescriptor, connectionId: string): Promise<void> {
    if (this.stopped) return;
    let local = this.local.get(room.roomId);
    if (!local) {
      local = { ...room, customers: new Set() };
      this.local.set(room.roomId, local);
    }
    if (local.customers.has(connectionId)) return;
    local.customers.add(connectionId);
    const result = await this.state.addSubscriber(local, this.options.nodeId);
    this.versions.note(room.index, room.collection, result.version);
    if (local.customers.size === 1) {
      await this.announceRoom(local, result.version);
    } else {
      await this.publish('room:count', { index: room.index, collection: room.collection, roomId: room.roomId, version: result.version });
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
    const results = await Promise.allSettled(
      this.options.peers().map((peer) => this.transport.request(peer, 'room:add', body, this.options.ackTimeoutMs)),
    );
    for (const result of results) {
      if (result.status === 'rejected') {
        this.options.log('warn', `[cluster] room ${room.roomId} not acknowledged by a peer: ${(result.reason as Error).message}`);
      }
    }
  }

  /** A connection left a room on this node. */
  async unsubscribed(roomId: string, connectionId: string): Promise<void> {
    if (this.stopped) return;
    const local = this.local.get(roomId);
    if (!local?.customers.delete(connectionId)) return;
    if (local.customers.size === 0) this.local.delete(roomId);
    const result = await this.state.removeSubscriber(local.index, local.collection, roomId, this.options.nodeId);
    this.versions.note(local.index, local.collection, result.version);
    const body = { index: local.index, collection: local.collection, roomId, version: result.version };
    if (result.removed) {
      if (!this.local.has(roomId)) this.host.removeFilter(roomId);
      await this.publish('room:remove', body);
    } else {
      await this.publish('room:count', body);
    }
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
        void this.host.dispatchDocument(notice).catch((error: Error) => this.options.log('error', `[cluster] dispatch failed: ${error.message}`));
        return true;
      }
      case 'notify:user': {
        const notice = parseUserNotice(envelope.body);
        if (!notice) return this.malformed(envelope);
        void this.host.dispatchUser(notice).catch((error: Error) => this.options.log('error', `[cluster] dispatch failed: ${error.message}`));
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
        if (!change || change.roomId === undefined) return this.malformed(envelope);
        if (!this.local.has(change.roomId)) this.host.removeFilter(change.roomId);
        this.versions.note(change.index, change.collection, change.version);
        return true;
      }
      case 'state:versions': {
        // A node rewrote its part of these collections (rejoin, reset): reload them now.
        const list = (envelope.body as { collections?: unknown } | null)?.collections;
        if (!Array.isArray(list)) return this.malformed(envelope);
        for (const item of list) {
          const change = parseRoomVersion(item);
          if (change && this.versions.isBehind(change.index, change.collection, change.version)) {
            void this.resyncCollection(change.index, change.collection).catch((error: Error) =>
              this.options.log('warn', `[cluster] reload of ${change.index}/${change.collection} failed: ${error.message}`),
            );
          }
        }
        return true;
      }
      default:
        return false;
    }
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

  private malformed(envelope: Envelope): true {
    this.dropped.malformed++;
    this.options.log('debug', `[cluster] dropped malformed ${envelope.type} from ${envelope.from}`);
    return true;
  }

  /** Loads every room of Redis into the local Koncorde; drops filters Redis no longer has. */
  async resyncAll(): Promise<number> {
    const snapshots = await this.state.getAll();
    const known = new Set<string>();
    for (const snapshot of snapshots) {
      this.apply(snapshot);
      for (const room of snapshot.rooms) known.add(room.roomId);
    }
    for (const filter of this.host.filters()) {
      if (!known.has(filter.roomId) && !this.local.has(filter.roomId)) this.host.removeFilter(filter.roomId);
    }
    return known.size;
  }

  async resyncCollection(index: string, collection: string): Promise<void> {
    this.apply(await this.state.getCollection(index, collection));
  }

  private apply(snapshot: CollectionSnapshot): void {
    const inRedis = new Set<string>();
    for (const room of snapshot.rooms) {
      inRedis.add(room.roomId);
      if (!this.host.hasFilter(room.roomId)) {
        this.host.storeFilter({ index: snapshot.index, collection: snapshot.collection, roomId: room.roomId, filters: room.filters });
      }
    }
    for (const filter of this.host.filters()) {
      if (filter.index !== snapshot.index || filter.collection !== snapshot.collection) continue;
      if (!inRedis.has(filter.roomId) && !this.local.has(filter.roomId)) this.host.removeFilter(filter.roomId);
    }
    this.versions.reset(snapshot.index, snapshot.collection, snapshot.version);
  }

  /**
   * Writes this node's live subscriptions back to Redis, exactly, and tells
   * the peers which collections changed (they reload them). Used after this
   * node was presumed dead, and by a reset.
   */
  async reassert(): Promise<{ rooms: number; subscribers: number }> {
    const rooms = this.localRooms();
    const changes = await this.state.replaceNode(this.options.nodeId, rooms);
    // Rooms this node brings back get the same guarantee as a new subscription.
    await Promise.all(
      changes.flatMap((change) =>
        change.addedRooms.flatMap((roomId) => {
          const room = this.local.get(roomId);
          return room ? [this.announceRoom(room, change.version)] : [];
        }),
      ),
    );
    await this.publish('state:versions', {
      collections: changes.map(({ index, collection, version }) => ({ index, collection, version })),
    });
    for (const change of changes) {
      for (const roomId of change.removedRooms) if (!this.local.has(roomId)) this.host.removeFilter(roomId);
    }
    return { rooms: rooms.length, subscribers: rooms.reduce((sum, room) => sum + room.count, 0) };
  }

  /** Removes a dead node's subscribers from Redis and tells the peers which rooms are gone. */
  async purgeNode(nodeId: string): Promise<number> {
    const changes = await this.state.removeNode(nodeId);
    let removed = 0;
    for (const change of changes) {
      this.versions.note(change.index, change.collection, change.version);
      for (const roomId of change.removedRooms) {
        removed++;
        if (!this.local.has(roomId)) this.host.removeFilter(roomId);
        await this.publish('room:remove', { index: change.index, collection: change.collection, roomId, version: change.version });
      }
      if (change.removedRooms.length === 0) {
        await this.publish('room:count', { index: change.index, collection: change.collection, version: change.version });
      }
    }
    return removed;
  }

  stop(): void {
    this.stopped = true;
    this.versions.stop();
  }
}
