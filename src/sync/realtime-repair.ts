import type { CollectionSnapshot, RealtimeState } from '../state/realtime-state';
import type { LocalRooms } from './local-rooms';
import type { RealtimeHost } from './realtime-host';
import type { VersionTracker } from './version-tracker';

/** What the repair needs from the realtime sync that owns it. */
export interface RepairContext {
  nodeId: string;
  publish(type: string, body: unknown): Promise<void>;
  /** Asks every peer to store a room's filter and waits for their acknowledgement. */
  announce(roomId: string, version: number): Promise<void>;
}

/**
 * Brings a node's view and Redis back in line: reloads collections from
 * Redis into the local Koncorde, writes this node's live subscriptions back
 * (after an eviction or a reset), and purges a dead node.
 */
export class RealtimeRepair {
  constructor(
    private readonly state: RealtimeState,
    private readonly host: RealtimeHost,
    private readonly local: LocalRooms,
    private readonly versions: VersionTracker,
    private readonly context: RepairContext,
  ) {}

  /** Loads every room of Redis into the local Koncorde; drops filters Redis no longer has. */
  async resyncAll(): Promise<number> {
    const snapshots = await this.state.getAll();
    const known = new Set<string>();
    for (const snapshot of snapshots) {
      await this.apply(snapshot);
      for (const room of snapshot.rooms) known.add(room.roomId);
    }
    for (const filter of this.host.filters()) {
      if (!known.has(filter.roomId)) await this.dropIfGone(filter.roomId);
    }
    return known.size;
  }

  async resyncCollection(index: string, collection: string): Promise<void> {
    await this.apply(await this.state.getCollection(index, collection));
  }

  private async apply(snapshot: CollectionSnapshot): Promise<void> {
    const inRedis = new Set<string>();
    for (const room of snapshot.rooms) {
      inRedis.add(room.roomId);
      this.host.storeFilter({ index: snapshot.index, collection: snapshot.collection, roomId: room.roomId, filters: room.filters });
    }
    for (const filter of this.host.filters()) {
      if (filter.index !== snapshot.index || filter.collection !== snapshot.collection) continue;
      if (!inRedis.has(filter.roomId)) await this.dropIfGone(filter.roomId);
    }
    this.versions.reset(snapshot.index, snapshot.collection, snapshot.version);
  }

  /**
   * A filter missing from a snapshot may belong to a room created after the
   * snapshot was read (its `room:add` already stored it): ask Redis again.
   */
  private async dropIfGone(roomId: string): Promise<void> {
    if ((await this.state.countRoom(roomId)) === undefined) this.local.dropFilterIfUnused(roomId);
  }

  /**
   * Writes this node's live subscriptions back to Redis, exactly. Rooms it
   * brings back are announced like new subscriptions (acknowledged); the
   * peers reload every collection whose state was rewritten.
   */
  async reassert(): Promise<{ rooms: number; subscribers: number }> {
    const rooms = this.local.list().map(({ customers, announced: _announced, ...room }) => ({ ...room, count: customers.size }));
    const changes = await this.state.replaceNode(this.context.nodeId, rooms);
    await Promise.all(changes.flatMap((change) => change.addedRooms.map((roomId) => this.context.announce(roomId, change.version))));
    for (const change of changes) {
      for (const roomId of change.removedRooms) this.local.dropFilterIfUnused(roomId);
      // Versions may have started over (Redis flushed): the next reload sets them.
      this.versions.forget(change.index, change.collection);
    }
    await this.context.publish('state:rewritten', {
      collections: changes.map(({ index, collection, version }) => ({ index, collection, version })),
    });
    return { rooms: rooms.length, subscribers: rooms.reduce((sum, room) => sum + room.count, 0) };
  }

  /** A peer rewrote these collections: forget their versions and reload them. */
  reloadRewritten(collections: Array<{ index: string; collection: string }>): Promise<unknown> {
    return Promise.all(
      collections.map(({ index, collection }) => {
        this.versions.forget(index, collection);
        return this.resyncCollection(index, collection);
      }),
    );
  }

  /** Removes a dead node's subscribers from Redis and tells the peers which rooms are gone. */
  async purgeNode(nodeId: string): Promise<number> {
    const changes = await this.state.removeNode(nodeId);
    let removed = 0;
    for (const change of changes) {
      this.versions.note(change.index, change.collection, change.version);
      for (const roomId of change.removedRooms) {
        removed++;
        this.local.dropFilterIfUnused(roomId);
        await this.context.publish('room:remove', { index: change.index, collection: change.collection, roomId, version: change.version });
      }
      if (change.removedRooms.length === 0) {
        await this.context.publish('room:count', { index: change.index, collection: change.collection, version: change.version });
      }
    }
    return removed;
  }
}
