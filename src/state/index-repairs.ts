import type { CollectionKeys } from './keys';

/** Rooms of one collection whose index entries are to be checked against it again. */
export interface RoomsToCheck {
  k: CollectionKeys;
  roomIds: Set<string>;
}

/**
 * The rooms whose index entries a step of this node left in doubt after
 * the collection's script went through, where no later check would look: a
 * removal whose check against the collection gave up (a room another node
 * created again meanwhile may have lost its entry), and a rewrite's
 * relisting of the rooms it created that gave up (the counts it wrote
 * match this node's, so its drift check sees nothing). Kept until
 * GlobalIndex.repairPending checks them again (each anti-entropy pass, and
 * at once when Redis answers after an outage, and once more as the node
 * leaves). In memory only: lost if the node dies first.
 */
export class IndexRepairs {
  private readonly pending = new Map<string, RoomsToCheck>();

  note(k: CollectionKeys, roomIds: Iterable<string>): void {
    let rooms = this.pending.get(k.ref);
    if (!rooms) this.pending.set(k.ref, (rooms = { k, roomIds: new Set() }));
    for (const roomId of roomIds) rooms.roomIds.add(roomId);
  }

  /** Everything pending, now removed from here. */
  take(): RoomsToCheck[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }

  get size(): number {
    let rooms = 0;
    for (const { roomIds } of this.pending.values()) rooms += roomIds.size;
    return rooms;
  }
}
