/**
 * The shared realtime state, as the realtime sync sees it: rooms with their
 * filters, and how many subscribers each owner (a node incarnation, see
 * `ownerOf`) has in each room. Implemented over Redis by
 * `RedisRealtimeStore`; tests of the sync use an in-memory double that
 * passes the same contract tests.
 */

/** A realtime room: a Koncorde filter on one index/collection. */
export interface RoomRecord {
  index: string;
  collection: string;
  roomId: string;
  /** Normalized filters, stored as JSON, opaque to the store. */
  filters: unknown;
}

/** A room with one owner's subscriber count. */
export interface OwnerRoom extends RoomRecord {
  count: number;
}

/** One room as stored: its filters and cluster-wide subscriber count. */
export interface StoredRoom {
  roomId: string;
  filters: unknown;
  total: number;
}

/** A room's cluster-wide subscriber count. */
export interface RoomCount {
  roomId: string;
  total: number;
}

export interface CollectionRef {
  index: string;
  collection: string;
}

/** What a write changed in one collection. */
export interface CollectionChange extends CollectionRef {
  /** Rooms that did not exist before. */
  addedRooms: string[];
  /** Rooms deleted because nobody is left in them. */
  removedRooms: string[];
}

/** How many rooms, and subscribers in them, a node or a collection holds. */
export interface RoomTally {
  rooms: number;
  subscribers: number;
}

/** What an owner holds in one collection, for drift checks. */
export interface OwnerDigest extends CollectionRef, RoomTally {
  /** The sum of each room's weight (see roomWeight) times the owner's subscribers there. */
  checksum: number;
}

/**
 * The realtime state shared by the nodes. The additions and removals of
 * one owner apply in the order they are called, so a node never needs to
 * wait for one before making the next.
 */
export interface RealtimeStore {
  /**
   * Adds `count` subscribers of `owner` to a room, creating it if needed.
   * `ownerHasRoom`: the owner already counts subscribers in this room, so the
   * room's index entries exist and need no write.
   */
  addSubscriber(room: RoomRecord, owner: string, count?: number, ownerHasRoom?: boolean): Promise<{ total: number; created: boolean }>;
  /** Removes up to `count` subscribers of `owner` from a room; the room goes at 0. */
  removeSubscriber(ref: CollectionRef, roomId: string, owner: string, count?: number): Promise<{ total: number; removed: boolean }>;
  /**
   * Makes `owner`'s contribution exactly `rooms` in `scope` (these
   * collections; all the owner's collections and those of `rooms` when
   * omitted). Counts of one room id are summed; 0 means absent.
   * `abandoned` is asked before each write: once it says yes, nothing more
   * is written and the contribution is left part replaced (for an owner
   * about to be purged: a node leaving must not wait for a long rewrite).
   */
  replaceOwner(owner: string, rooms: readonly OwnerRoom[], scope?: readonly CollectionRef[], abandoned?: () => boolean): Promise<CollectionChange[]>;
  /**
   * Removes everything of an owner (a dead or replaced node incarnation)
   * in the collections the shared state lists for it and in `alsoIn`: a
   * node writing on under an owner a peer had purged meanwhile (it did not
   * know yet) may have left it counted where it is no longer listed.
   */
  purgeOwner(owner: string, alsoIn?: readonly CollectionRef[]): Promise<CollectionChange[]>;
  /**
   * Cluster-wide subscribers of a room; undefined when the room does not
   * exist. `where`: its collection, when the caller knows it (saves looking
   * it up).
   */
  countRoom(roomId: string, where?: CollectionRef): Promise<number | undefined>;
  /** Where a room lives and its filters; undefined when it does not exist. */
  findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined>;
  /** Collections that may have rooms. */
  collections(): Promise<CollectionRef[]>;
  /** Walks the rooms of a collection in batches (never the whole collection at once). */
  scanRooms(ref: CollectionRef, onBatch: (rooms: StoredRoom[]) => Promise<void> | void): Promise<void>;
  /** Walks the rooms of a collection with their counts only (no filters), in batches. */
  scanCounts(ref: CollectionRef, onBatch: (rooms: RoomCount[]) => Promise<void> | void): Promise<void>;
  /** Those of `roomIds` that do not exist. */
  missingRooms(roomIds: readonly string[]): Promise<string[]>;
  /** Every owner that has written subscribers and not been purged. */
  owners(): Promise<string[]>;
  /** What `owner` holds per collection. */
  ownerDigest(owner: string): Promise<OwnerDigest[]>;
  /**
   * Checks again the rooms whose index entries a write of this node left
   * in doubt where no drift check would see it (see
   * GlobalIndex.repairPending). Never rejects: says what it did and what
   * stopped it.
   */
  repairPending(): Promise<IndexRepairOutcome>;
  /**
   * Those of `rooms` (the owner's, in their collections) that the index does
   * not list: a write it acknowledged and lost with a failed master, which
   * no count shows. See {@link writeEntries}.
   */
  unlistedRooms(rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<Array<CollectionRef & { roomId: string }>>;
  /** Lists the owner in these rooms' collections and writes their index entries (as a subscription does after its script). */
  writeEntries(owner: string, rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<void>;
  /**
   * One step of a walk over the whole room index, from `cursor` ('0' starts
   * a walk; the step's cursor is '0' again once it is over), of about
   * `count` entries: those whose room no longer exists are removed, and
   * those that do not decode dropped. The cluster-wide safety net for
   * stale entries, whatever left them (see GlobalIndex.sweepStale).
   */
  sweepStaleEntries(cursor: string, count: number): Promise<StaleSweep>;
}

/** What one step of {@link RealtimeStore.sweepStaleEntries} did. */
export interface StaleSweep {
  /** Where the next step starts ('0': the walk is over). */
  cursor: string;
  /** Entries read. */
  scanned: number;
  /** Entries of rooms that no longer exist, removed. */
  stale: number;
  /** Entries that did not decode as a collection, dropped (and members of the collection sets, whenever read since the last step). */
  corrupt: number;
  /** Collections listed with no room left, unlisted (once per walk, at its last step). */
  unlisted: number;
}

/** What {@link RealtimeStore.repairPending} did. */
export interface IndexRepairOutcome {
  /** Rooms whose entries were checked against their collection. */
  checked: number;
  /** What stopped it: the rooms left wait for the next call. */
  error?: unknown;
}
