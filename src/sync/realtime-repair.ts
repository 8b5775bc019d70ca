import { encodeCollectionRef } from '../state/keys';
import type { CollectionChange, CollectionRef, RealtimeStore, RoomTally } from '../state/realtime-store';
import { MAX_ROOMS_PER_MESSAGE } from './messages';
import type { LocalRooms } from './local-rooms';
import type { RealtimeHost } from './realtime-host';
import type { ReadWriteLock } from './rw-lock';

/** What the repair needs from the realtime sync that owns it. */
export interface RepairContext {
  owner(): string;
  /** Tells the peers these rooms are gone (any number: split into messages by the sync). */
  publishRemoved(ref: CollectionRef, roomIds: readonly string[]): Promise<void>;
  publishRewritten(collections: CollectionRef[]): Promise<void>;
  /** Asks every peer to store a room's filter and waits for their acknowledgement. */
  announce(roomId: string): Promise<void>;
  /** A room of the shared state whose filters the host refused. */
  badFilter(roomId: string, error: unknown): void;
}

/** A collection where this node's local truth and the shared state disagree. */
export interface Drift extends CollectionRef {
  local: RoomTally;
  stored: RoomTally;
}

const refKey = (ref: CollectionRef): string => encodeCollectionRef(ref.index, ref.collection);

/**
 * Brings a node's view and the shared state back in line: loads filters
 * from the shared state into the local engine, writes this node's live
 * subscriptions back (after an eviction, a reset, a lost Redis, or drift),
 * and purges dead owners.
 */
export class RealtimeRepair {
  constructor(
    private readonly store: RealtimeStore,
    private readonly host: RealtimeHost,
    private readonly local: LocalRooms,
    private readonly lock: ReadWriteLock,
    private readonly context: RepairContext,
  ) {}

  /** Loads every room of the shared state into the local engine; drops filters it no longer has. */
  async resyncAll(): Promise<number> {
    const known = new Set<string>();
    for (const ref of await this.store.collections()) {
      for (const roomId of await this.loadCollection(ref)) known.add(roomId);
    }
    await this.dropIfGone(this.host.filters().map(({ roomId }) => roomId).filter((roomId) => !known.has(roomId)));
    return known.size;
  }

  /** Reloads one collection (a peer rewrote it): its rooms' filters, and none of the rooms it no longer has. */
  async reload(ref: CollectionRef): Promise<void> {
    const known = new Set(await this.loadCollection(ref));
    await this.dropIfGone([...this.host.filterIds(ref.index, ref.collection)].filter((roomId) => !known.has(roomId)));
  }

  private async loadCollection(ref: CollectionRef): Promise<string[]> {
    const ids: string[] = [];
    await this.store.scanRooms(ref, (rooms) => {
      for (const room of rooms) {
        ids.push(room.roomId);
        try {
          this.host.storeFilter({ index: ref.index, collection: ref.collection, roomId: room.roomId, filters: room.filters });
        } catch (error) {
          // One bad room must not keep the others out.
          this.context.badFilter(room.roomId, error);
        }
      }
    });
    return ids;
  }

  /**
   * Drops the filters of rooms the shared state no longer has. A filter
   * missing from a scan, or named by a `room:remove`, may belong to a room
   * created again since (its `room:add` already stored it): ask first, a
   * batch of rooms per call.
   */
  async dropIfGone(roomIds: readonly string[]): Promise<void> {
    for (let i = 0; i < roomIds.length; i += MAX_ROOMS_PER_MESSAGE) {
      for (const roomId of await this.store.missingRooms(roomIds.slice(i, i + MAX_ROOMS_PER_MESSAGE))) this.local.dropFilterIfUnused(roomId);
    }
  }

  /**
   * Writes this node's live subscriptions back, exactly, under the current
   * owner, in `scope` (default: everywhere), then purges `previousOwner` if
   * the owner changed. Rooms brought back are announced like new
   * subscriptions (acknowledged); peers reload the rewritten collections.
   */
  async rewrite(previousOwner?: string, scope?: readonly CollectionRef[]): Promise<RoomTally> {
    return this.lock.write(async () => {
      const owner = this.context.owner();
      const rooms = this.local.list().map(({ index, collection, roomId, filters, customers }) => ({ index, collection, roomId, filters, count: customers.size }));
      const changes = await this.store.replaceOwner(owner, rooms, scope);
      if (previousOwner !== undefined && previousOwner !== owner) changes.push(...(await this.store.purgeOwner(previousOwner)));
      for (const room of this.local.list()) room.counted = true;
      await this.applyChanges(changes);
      const inScope = scope ? new Set(scope.map(refKey)) : undefined;
      const written = inScope ? rooms.filter((room) => inScope.has(refKey(room))) : rooms;
      return { rooms: written.length, subscribers: written.reduce((sum, room) => sum + room.count, 0) };
    });
  }

  /** Removes a dead owner's subscribers and tells the peers which rooms are gone. Returns the rooms removed. */
  async purgeOwner(owner: string): Promise<number> {
    const changes = await this.store.purgeOwner(owner);
    let removed = 0;
    for (const change of changes) {
      removed += change.removedRooms.length;
      for (const roomId of change.removedRooms) this.local.dropFilterIfUnused(roomId);
      await this.context.publishRemoved(change, change.removedRooms);
    }
    return removed;
  }

  /** Compares what this node holds with what the shared state says it holds, per collection. */
  async findDrift(): Promise<Drift[]> {
    const local = this.local.digest();
    const stored = await this.store.ownerDigest(this.context.owner());
    const drift: Drift[] = [];
    const seen = new Set<string>();
    for (const entry of stored) {
      const key = refKey(entry);
      seen.add(key);
      const mine = local.get(key) ?? { rooms: 0, subscribers: 0 };
      if (mine.rooms !== entry.rooms || mine.subscribers !== entry.subscribers) {
        drift.push({ index: entry.index, collection: entry.collection, local: { rooms: mine.rooms, subscribers: mine.subscribers }, stored: { rooms: entry.rooms, subscribers: entry.subscribers } });
      }
    }
    for (const [key, mine] of local) {
      if (seen.has(key)) continue;
      drift.push({ index: mine.index, collection: mine.collection, local: { rooms: mine.rooms, subscribers: mine.subscribers }, stored: { rooms: 0, subscribers: 0 } });
    }
    return drift;
  }

  private async applyChanges(changes: CollectionChange[]): Promise<void> {
    await Promise.all(changes.flatMap((change) => change.addedRooms.filter((id) => this.local.has(id)).map((roomId) => this.context.announce(roomId))));
    for (const change of changes) {
      for (const roomId of change.removedRooms) this.local.dropFilterIfUnused(roomId);
    }
    if (changes.length > 0) await this.context.publishRewritten(changes.map(({ index, collection }) => ({ index, collection })));
  }
}
