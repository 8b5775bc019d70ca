import type { RealtimeHost, RoomDescriptor } from './realtime-host';

/** A room with subscribers on this node. */
export interface LocalRoom extends RoomDescriptor {
  /** Connection ids subscribed to the room on this node. */
  customers: Set<string>;
  /**
   * Settles once the peers have acknowledged the room (or failed to):
   * later local subscribers wait on it, so that none is answered before the
   * room is live cluster-wide.
   */
  announced: Promise<void>;
}

/**
 * This node's rooms and subscribers, as Kuzzle's pipes reported them
 * (Kuzzle 2.10 keeps its own room list private), and the one rule for
 * dropping a filter from the local Koncorde.
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
  create(room: RoomDescriptor, connectionId: string): LocalRoom {
    const local: LocalRoom = { ...room, customers: new Set([connectionId]), announced: Promise.resolve() };
    this.rooms.set(room.roomId, local);
    return local;
  }

  /** Removes a subscriber; the room goes with its last one. False if it was not subscribed. */
  removeCustomer(roomId: string, connectionId: string): LocalRoom | undefined {
    const local = this.rooms.get(roomId);
    if (!local?.customers.delete(connectionId)) return undefined;
    if (local.customers.size === 0 && this.rooms.get(roomId) === local) this.rooms.delete(roomId);
    return local;
  }

  list(): LocalRoom[] {
    return [...this.rooms.values()];
  }

  /** Drops a room's filter from the local Koncorde unless local subscribers still need it. */
  dropFilterIfUnused(roomId: string): void {
    if (!this.rooms.has(roomId)) this.host.removeFilter(roomId);
  }
}
