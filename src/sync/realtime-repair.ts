import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef, RealtimeStore, RoomTally } from '../state/realtime-store';
import type { LocalRooms } from './local-rooms';
import type { ReadWriteLock } from './rw-lock';

/** A collection where this node's local truth and the shared state disagree. */
export interface Drift extends CollectionRef {
  local: DigestTally;
  stored: DigestTally;
}

/** A collection's tally for the drift check: its checksum tells subscribers moved between rooms, which the totals do not. */
export type DigestTally = RoomTally & { checksum: number };

const refKey = (ref: CollectionRef): string => encodeCollectionRef(ref.index, ref.collection);
const tallyOf = ({ rooms, subscribers, checksum }: DigestTally): DigestTally => ({ rooms, subscribers, checksum });

/**
 * Brings the shared state back in line with this node's view: writes its
 * live subscriptions back (after an eviction, a reset, a lost Redis, or
 * drift), and purges dead owners. Peers need nothing from it: each holds
 * only its own subscribers' filters.
 */
export class RealtimeRepair {
  constructor(
    private readonly store: RealtimeStore,
    private readonly local: LocalRooms,
    private readonly lock: ReadWriteLock,
    private readonly owner: () => string,
    /** Set once the node leaves: its purge must not be undone by a rewrite that waited for the lock. */
    private readonly leaving: () => boolean = () => false,
  ) {}

  /**
   * Writes this node's live subscriptions back, exactly, under the current
   * owner, in `scope` (default: everywhere), then purges the `previousOwners`
   * other than the current one.
   */
  async rewrite(previousOwners: readonly string[] = [], scope?: readonly CollectionRef[]): Promise<RoomTally> {
    return this.lock.write(async () => {
      if (this.leaving()) return { rooms: 0, subscribers: 0 };
      const owner = this.owner();
      const rooms = this.local.list().map(({ index, collection, roomId, filters, customers }) => ({ index, collection, roomId, filters, count: customers.size }));
      await this.store.replaceOwner(owner, rooms, scope, this.leaving);
      // Also where this node holds rooms: a subscription written under the
      // old owner after a peer purged it (before this node knew) is counted
      // there but no longer listed under it. Done even when leaving: the
      // leave purges the current owner only.
      for (const previous of previousOwners) if (previous !== owner) await this.store.purgeOwner(previous, this.local.collectionRefs());
      if (this.leaving()) return { rooms: 0, subscribers: 0 };
      for (const room of this.local.list()) room.counted = true;
      const inScope = scope ? new Set(scope.map(refKey)) : undefined;
      const written = inScope ? rooms.filter((room) => inScope.has(refKey(room))) : rooms;
      return { rooms: written.length, subscribers: written.reduce((sum, room) => sum + room.count, 0) };
    });
  }

  /**
   * Removes this node's own subscribers as it leaves, once the writes and
   * the rewrite under way are done (a rewrite run after the purge would
   * write them back); the rewrite stops at its next write. Returns the
   * rooms removed.
   */
  purgeSelf(): Promise<number> {
    return this.lock.write(() => this.purgeOwner(this.owner()));
  }

  /** Removes a dead owner's subscribers. Returns the rooms removed (no subscriber left anywhere). */
  async purgeOwner(owner: string): Promise<number> {
    const changes = await this.store.purgeOwner(owner);
    return changes.reduce((sum, change) => sum + change.removedRooms.length, 0);
  }

  /**
   * Writes back the index entries of this node's rooms that the index does
   * not hold (lost with a failed master after Redis acknowledged them: the
   * counts agree, so no drift check sees it, and no join or count of the
   * room elsewhere finds it). Returns how many.
   */
  async restoreEntries(): Promise<number> {
    const unlisted = await this.store.unlistedRooms(this.local.list().filter((room) => room.counted));
    if (unlisted.length === 0) return 0;
    // Written with no subscription or unsubscription under way (they hold
    // the read lock until their clean-up is done), and only for rooms still
    // held: one left meanwhile may be deleted already, and its entry would
    // stay, stale (as would a listing of a collection the owner left). Not
    // once the node leaves: its purge removed them.
    return this.lock.write(async () => {
      if (this.leaving()) return 0;
      const held = unlisted.filter((room) => this.local.get(room.roomId)?.counted === true);
      if (held.length > 0) await this.store.writeEntries(this.owner(), held);
      return held.length;
    });
  }

  /**
   * Compares what this node holds with what the shared state says it holds,
   * per collection. A subscription under way is held here before it is
   * written: a difference is confirmed once those under way are done (the
   * write lock waits for them, and holds new ones back for one more read of
   * the shared state), so that a node taking subscriptions does not rewrite
   * whole collections for writes it is about to make (a scale-out run saw
   * up to ten such rewrites per node in a burst).
   */
  async findDrift(): Promise<Drift[]> {
    const drift = await this.compare();
    if (drift.length === 0) return drift;
    return this.lock.write(() => this.compare());
  }

  private async compare(): Promise<Drift[]> {
    const local = this.local.digest();
    const stored = await this.store.ownerDigest(this.owner());
    const drift: Drift[] = [];
    const seen = new Set<string>();
    for (const entry of stored) {
      const key = refKey(entry);
      seen.add(key);
      const mine = local.get(key) ?? { rooms: 0, subscribers: 0, checksum: 0 };
      if (mine.rooms !== entry.rooms || mine.subscribers !== entry.subscribers || mine.checksum !== entry.checksum) {
        drift.push({ index: entry.index, collection: entry.collection, local: tallyOf(mine), stored: tallyOf(entry) });
      }
    }
    for (const [key, mine] of local) {
      if (seen.has(key)) continue;
      drift.push({ index: mine.index, collection: mine.collection, local: tallyOf(mine), stored: { rooms: 0, subscribers: 0, checksum: 0 } });
    }
    return drift;
  }
}
