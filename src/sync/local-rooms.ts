import { encodeCollectionRef } from '../state/keys';
import type { RealtimeHost } from './realtime-host';
import type { OwnerDigest, RoomRecord, RoomTally } from '../state/realtime-store';

/** A room with subscribers on this node. */
export interface LocalRoom extends RoomRecord {
  /** Connection ids subscribed to the room on this node. */
  customers: Set<string>;
  /** Whether this node's subscribers of the room are counted in the shared state (and the room indexed). */
  counted: boolean;
  /**
   * Settles once the peers have acknowledged the room (or failed to):
   * later local subscribers wait on it, so that none is answered before the
   * room is live cluster-wide.
   */
  announced: Promise<void>;
}

/**
 * This node's rooms and subscribers, as the host's events reported them
 * (Kuzzle 2.10 keeps its own room list private): the local truth that is
 * written back to the shared state whenever that is in doubt.
 */
export class LocalRooms {
  private readonly rooms = new Map<string, LocalRoom>();

  constructor(private readonly host: RealtimeHost) {}

  get(roomId: string): LocalRoom | undefined {
    return this.rooms.get(roomId);
  }

  has(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Creates the room with its first subscriber; the caller sets `announced`. */
  create(room: RoomRecord, connectionId: string): LocalRoom {
    const local: LocalRoom = { ...room, customers: new Set([connectionId]), counted: false, announced: Promise.resolve() };
    this.rooms.set(room.roomId, local);
    return local;
  }

  /** Removes a subscriber; the room goes with its last one. Undefined if it was not subscribed. */
  removeCustomer(roomId: string, connectionId: string): LocalRoom | undefined {
    const local = this.rooms.get(roomId);
    if (!local?.customers.delete(connectionId)) return undefined;
    if (local.customers.size === 0) this.rooms.delete(roomId);
    return local;
  }

  /** Rooms and subscribers of this node. */
  counts(): RoomTally {
    let subscribers = 0;
    for (const room of this.rooms.values()) subscribers += room.customers.size;
    return { rooms: this.rooms.size, subscribers };
  }

  list(): LocalRoom[] {
    return [...this.rooms.values()];
  }

  /** Subscribers and rooms per collection, for drift checks. */
  digest(): Map<string, OwnerDigest> {
    const byCollection = new Map<string, OwnerDigest>();
    for (const room of this.rooms.values()) {
      const key = encodeCollectionRef(room.index, room.collection);
      const entry = byCollection.get(key) ?? { index: room.index, collection: room.collection, rooms: 0, subscribers: 0 };
      entry.rooms += 1;
      entry.subscribers += room.customers.size;
      byCollection.set(key, entry);
    }
    return byCollection;
  }

  /** Drops a room's filter from the local engine unless local subscribers still need it. */
  dropFilterIfUnused(roomId: string): void {
    if (!this.rooms.has(roomId)) this.host.removeFilter(roomId);
  }
}
