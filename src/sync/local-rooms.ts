import { encodeCollectionRef } from '../state/keys';
import { roomWeight } from '../state/room-weight';
import type { CollectionRef, OwnerDigest, RoomRecord, RoomTally } from '../state/realtime-store';

/** A room with subscribers on this node. */
export interface LocalRoom extends RoomRecord {
  /** Connection ids subscribed to the room on this node. */
  customers: Set<string>;
  /** Whether this node's subscribers of the room are counted in the shared state (and the room indexed). */
  counted: boolean;
}

/**
 * This node's rooms and subscribers, as the host's events reported them
 * (Kuzzle 2.10 keeps its own room list private): the local truth that is
 * written back to the shared state whenever that is in doubt.
 */
export class LocalRooms {
  private readonly rooms = new Map<string, LocalRoom>();
  /** Rooms per collection, and when peers were told this node listens there. */
  private readonly collections = new Map<string, { ref: CollectionRef; rooms: number; announced: Promise<void> }>();
  /** The collections' keys in order, for the pages of `interest:list`; dropped when a collection comes or goes. */
  private sortedKeys: string[] | undefined;

  get(roomId: string): LocalRoom | undefined {
    return this.rooms.get(roomId);
  }

  has(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /**
   * Creates the room with its first subscriber. `announce` runs when it is
   * the first room of its collection here; every room of the collection
   * waits for that announcement (see {@link announced}).
   */
  create(room: RoomRecord, connectionId: string, announce: (ref: CollectionRef) => Promise<void>): LocalRoom {
    const local: LocalRoom = { ...room, customers: new Set([connectionId]), counted: false };
    this.rooms.set(room.roomId, local);
    const key = encodeCollectionRef(room.index, room.collection);
    let collection = this.collections.get(key);
    if (!collection) {
      const ref = { index: room.index, collection: room.collection };
      collection = { ref, rooms: 0, announced: announce(ref) };
      this.collections.set(key, collection);
      this.sortedKeys = undefined;
    }
    collection.rooms += 1;
    return local;
  }

  /** When peers were told this node listens to the room's collection (settled when it is not a room here). */
  announced(room: CollectionRef): Promise<void> {
    return this.collections.get(encodeCollectionRef(room.index, room.collection))?.announced ?? Promise.resolve();
  }

  /** Whether this node has rooms in the collection. */
  listensTo(ref: CollectionRef): boolean {
    return this.collections.has(encodeCollectionRef(ref.index, ref.collection));
  }

  /**
   * Up to `size` collections with rooms here, in the order of their keys,
   * after the key `after`; `next` is the key to ask the following page
   * with, when there is one. A collection added or removed between pages is
   * told to peers by its own announcement.
   */
  collectionPage(after: string | undefined, size: number): { collections: CollectionRef[]; next?: string } {
    // Sorted once while the collections stay the same (they change only on a first or last room), not per page.
    const keys = (this.sortedKeys ??= [...this.collections.keys()].sort());
    const start = after === undefined ? 0 : firstAfter(keys, after);
    const page = keys.slice(start, start + size);
    const collections = page.map((key) => (this.collections.get(key) as { ref: CollectionRef }).ref);
    const last = page[page.length - 1];
    return start + size < keys.length && last !== undefined ? { collections, next: last } : { collections };
  }

  /** Collections with rooms here. */
  collectionRefs(): CollectionRef[] {
    return [...this.collections.values()].map(({ ref }) => ref);
  }

  /**
   * Removes a subscriber; the room goes with its last one, and `withdraw`
   * runs when it was the last room of its collection here. Undefined if
   * it was not subscribed.
   */
  removeCustomer(roomId: string, connectionId: string, withdraw: (ref: CollectionRef) => void): LocalRoom | undefined {
    const local = this.rooms.get(roomId);
    if (!local?.customers.delete(connectionId)) return undefined;
    if (local.customers.size > 0) return local;
    this.rooms.delete(roomId);
    const key = encodeCollectionRef(local.index, local.collection);
    const collection = this.collections.get(key);
    if (collection && --collection.rooms === 0) {
      this.collections.delete(key);
      this.sortedKeys = undefined;
      withdraw(collection.ref);
    }
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

  /** Subscribers, rooms and their checksum (see roomWeight) per collection, for drift checks. */
  digest(): Map<string, OwnerDigest> {
    // By index, then collection: no key built per room (a drift check every
    // few seconds over tens of thousands of rooms made most of an idle
    // node's garbage).
    const byIndex = new Map<string, Map<string, OwnerDigest>>();
    for (const room of this.rooms.values()) {
      let collections = byIndex.get(room.index);
      if (!collections) byIndex.set(room.index, (collections = new Map()));
      let entry = collections.get(room.collection);
      if (!entry) collections.set(room.collection, (entry = { index: room.index, collection: room.collection, rooms: 0, subscribers: 0, checksum: 0 }));
      entry.rooms += 1;
      entry.subscribers += room.customers.size;
      entry.checksum += roomWeight(room.roomId) * room.customers.size;
    }
    const byCollection = new Map<string, OwnerDigest>();
    for (const collections of byIndex.values()) {
      for (const entry of collections.values()) byCollection.set(encodeCollectionRef(entry.index, entry.collection), entry);
    }
    return byCollection;
  }
}

/** The index of the first of the sorted `keys` above `after` (binary search). */
function firstAfter(keys: readonly string[], after: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((keys[middle] as string) <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}
