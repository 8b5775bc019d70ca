import type { CollectionKeys } from './keys';

/** Rooms of one collection (and, for a listing, one owner) whose index step is to run again. */
export interface PendingRooms {
  k: CollectionKeys;
  /** The owner whose rooms are to be listed again; undefined for a removal to check again. */
  owner?: string;
  roomIds: Set<string>;
}

/**
 * The index steps that gave up after the collection's script went through,
 * which no later check would find: a removal whose check against the
 * collection failed (a room created again meanwhile by another node may
 * have lost its entry), and the entries of rooms a rewrite created (the
 * counts it wrote match this node's, so its drift check sees nothing).
 * Kept here until {@link GlobalIndex.repairPending} runs them again (the
 * anti-entropy pass, also as soon as Redis answers after an outage). Held
 * in memory only: lost if the node dies before Redis answers again.
 */
export class IndexRepairs {
  private readonly pending = new Map<string, PendingRooms>();

  /** A removal's check gave up: the rooms are checked again. */
  removal(k: CollectionKeys, roomIds: Iterable<string>): void {
    this.note(`-\n${k.ref}`, k, undefined, roomIds);
  }

  /** The owner's listing of rooms gave up after its script: written again. */
  listing(owner: string, k: CollectionKeys, roomIds: Iterable<string>): void {
    this.note(`+\n${k.ref}\n${owner}`, k, owner, roomIds);
  }

  /** A rewrite of the owner lists its rooms again itself: its pending listings would add nothing. */
  dropListings(owner: string): void {
    for (const [key, rooms] of this.pending) if (rooms.owner === owner) this.pending.delete(key);
  }

  /** Everything pending, now removed from here (a step that fails again notes itself again). */
  take(): PendingRooms[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }

  get size(): number {
    let rooms = 0;
    for (const { roomIds } of this.pending.values()) rooms += roomIds.size;
    return rooms;
  }

  private note(key: string, k: CollectionKeys, owner: string | undefined, roomIds: Iterable<string>): void {
    let rooms = this.pending.get(key);
    if (!rooms) this.pending.set(key, (rooms = { k, owner, roomIds: new Set() }));
    for (const roomId of roomIds) rooms.roomIds.add(roomId);
  }
}
