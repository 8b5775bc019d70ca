import { InvalidCountError, MissingFiltersError } from '../../src/state/errors';
import { roomWeight } from '../../src/state/room-weight';
import type {
  CollectionChange,
  CollectionRef,
  IndexRepairOutcome,
  OwnerDigest,
  OwnerRoom,
  RealtimeStore,
  RoomCount,
  RoomRecord,
  StaleSweep,
  StoredRoom,
} from '../../src/state/realtime-store';

interface Room {
  ref: CollectionRef;
  filters: unknown;
  /** owner → subscribers */
  counts: Map<string, number>;
}

const refKey = (ref: CollectionRef): string => JSON.stringify([ref.index, ref.collection]);
const total = (room: Room): number => [...room.counts.values()].reduce((sum, n) => sum + n, 0);

/**
 * {@link RealtimeStore} in memory, for unit tests of the realtime sync. It
 * follows the same contract tests as the Redis store
 * (test/support/realtime-store-contract.ts), so that tests written against
 * it say something true about the real one.
 */
export class MemoryRealtimeStore implements RealtimeStore {
  readonly rooms = new Map<string, Room>();
  /** Make the next calls of a method fail (then succeed again). */
  readonly failures = new Map<keyof RealtimeStore, Error>();
  /** Rooms a test made the index lose (this store has no index otherwise). */
  readonly unlisted = new Set<string>();

  async addSubscriber(room: RoomRecord, owner: string, count = 1): Promise<{ total: number; created: boolean }> {
    this.maybeFail('addSubscriber');
    checkCount(count, 1);
    let stored = this.rooms.get(room.roomId);
    const created = stored === undefined;
    if (!stored) {
      stored = { ref: { index: room.index, collection: room.collection }, filters: room.filters, counts: new Map() };
      this.rooms.set(room.roomId, stored);
    }
    stored.counts.set(owner, (stored.counts.get(owner) ?? 0) + count);
    return { total: total(stored), created };
  }

  async removeSubscriber(_ref: CollectionRef, roomId: string, owner: string, count = 1): Promise<{ total: number; removed: boolean }> {
    this.maybeFail('removeSubscriber');
    checkCount(count, 1);
    const stored = this.rooms.get(roomId);
    if (!stored) return { total: 0, removed: false };
    const left = Math.max(0, (stored.counts.get(owner) ?? 0) - count);
    if (left > 0) stored.counts.set(owner, left);
    else stored.counts.delete(owner);
    const remaining = total(stored);
    if (remaining === 0) this.rooms.delete(roomId);
    return { total: remaining, removed: remaining === 0 };
  }

  /** Writes at once: `abandoned` is asked only before it starts. */
  async replaceOwner(owner: string, rooms: readonly OwnerRoom[], scope?: readonly CollectionRef[], abandoned?: () => boolean): Promise<CollectionChange[]> {
    this.maybeFail('replaceOwner');
    if (abandoned?.()) return [];
    const inScope = scope ? new Set(scope.map(refKey)) : undefined;
    const wanted = new Map<string, OwnerRoom>();
    for (const room of rooms) {
      checkCount(room.count, 0);
      if (inScope && !inScope.has(refKey(room))) continue;
      const previous = wanted.get(room.roomId);
      wanted.set(room.roomId, { ...room, count: (previous?.count ?? 0) + room.count });
    }
    for (const room of wanted.values()) {
      if (room.count > 0 && !this.rooms.has(room.roomId) && room.filters === undefined) throw new MissingFiltersError(`room ${room.roomId}`);
    }
    const changes = new Map<string, CollectionChange>();
    const changeOf = (ref: CollectionRef) => {
      const k = refKey(ref);
      let change = changes.get(k);
      if (!change) changes.set(k, (change = { index: ref.index, collection: ref.collection, addedRooms: [], removedRooms: [] }));
      return change;
    };
    for (const [roomId, stored] of [...this.rooms]) {
      if (!stored.counts.has(owner) || wanted.has(roomId)) continue;
      if (inScope && !inScope.has(refKey(stored.ref))) continue;
      stored.counts.delete(owner);
      if (total(stored) === 0) {
        this.rooms.delete(roomId);
        changeOf(stored.ref).removedRooms.push(roomId);
      }
    }
    for (const room of wanted.values()) {
      if (room.count === 0) {
        const stored = this.rooms.get(room.roomId);
        if (stored?.counts.delete(owner) && total(stored) === 0) {
          this.rooms.delete(room.roomId);
          changeOf(room).removedRooms.push(room.roomId);
        }
        continue;
      }
      const existing = this.rooms.get(room.roomId);
      if (!existing) {
        this.rooms.set(room.roomId, { ref: { index: room.index, collection: room.collection }, filters: room.filters, counts: new Map([[owner, room.count]]) });
        changeOf(room).addedRooms.push(room.roomId);
      } else {
        existing.counts.set(owner, room.count);
      }
    }
    return [...changes.values()];
  }

  /** Every room is looked at: this store has no per-owner list that could miss one (`alsoIn` adds nothing). */
  async purgeOwner(owner: string): Promise<CollectionChange[]> {
    this.maybeFail('purgeOwner');
    const changes = new Map<string, CollectionChange>();
    for (const [roomId, stored] of [...this.rooms]) {
      if (!stored.counts.delete(owner) || total(stored) > 0) continue;
      this.rooms.delete(roomId);
      const k = refKey(stored.ref);
      const change = changes.get(k) ?? { ...stored.ref, addedRooms: [], removedRooms: [] };
      change.removedRooms.push(roomId);
      changes.set(k, change);
    }
    return [...changes.values()];
  }

  async countRoom(roomId: string): Promise<number | undefined> {
    this.maybeFail('countRoom');
    const stored = this.rooms.get(roomId);
    return stored ? total(stored) : undefined;
  }

  async findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined> {
    const stored = this.rooms.get(roomId);
    return stored ? { ...stored.ref, filters: stored.filters } : undefined;
  }

  async collections(): Promise<CollectionRef[]> {
    const refs = new Map<string, CollectionRef>();
    for (const stored of this.rooms.values()) refs.set(refKey(stored.ref), stored.ref);
    return [...refs.values()];
  }

  async scanRooms(ref: CollectionRef, onBatch: (rooms: StoredRoom[]) => Promise<void> | void): Promise<void> {
    const rooms: StoredRoom[] = [];
    for (const [roomId, stored] of this.rooms) {
      if (refKey(stored.ref) === refKey(ref)) rooms.push({ roomId, filters: stored.filters, total: total(stored) });
    }
    if (rooms.length > 0) await onBatch(rooms);
  }

  async scanCounts(ref: CollectionRef, onBatch: (rooms: RoomCount[]) => Promise<void> | void): Promise<void> {
    await this.scanRooms(ref, (rooms) => onBatch(rooms.map(({ roomId, total: count }) => ({ roomId, total: count }))));
  }

  async missingRooms(roomIds: readonly string[]): Promise<string[]> {
    this.maybeFail('missingRooms');
    return roomIds.filter((roomId) => !this.rooms.has(roomId));
  }

  async owners(): Promise<string[]> {
    const owners = new Set<string>();
    for (const stored of this.rooms.values()) for (const owner of stored.counts.keys()) owners.add(owner);
    return [...owners];
  }

  async ownerDigest(owner: string): Promise<OwnerDigest[]> {
    const digest = new Map<string, OwnerDigest>();
    for (const [roomId, stored] of this.rooms) {
      const count = stored.counts.get(owner);
      if (count === undefined) continue;
      const k = refKey(stored.ref);
      const entry = digest.get(k) ?? { ...stored.ref, rooms: 0, subscribers: 0, checksum: 0 };
      entry.rooms++;
      entry.subscribers += count;
      entry.checksum += roomWeight(roomId) * count;
      digest.set(k, entry);
    }
    return [...digest.values()];
  }

  async unlistedRooms(rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<Array<CollectionRef & { roomId: string }>> {
    this.maybeFail('unlistedRooms');
    return rooms.filter((room) => this.unlisted.has(room.roomId));
  }

  async writeEntries(_owner: string, rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<void> {
    this.maybeFail('writeEntries');
    for (const room of rooms) this.unlisted.delete(room.roomId);
  }

  /** No write here leaves an entry behind: one walk over the rooms, nothing stale. */
  async sweepStaleEntries(): Promise<StaleSweep> {
    this.maybeFail('sweepStaleEntries');
    return { cursor: '0', scanned: this.rooms.size, stale: 0, corrupt: 0, unlisted: 0 };
  }

  /** Nothing ever gives up half-way here. */
  async repairPending(): Promise<IndexRepairOutcome> {
    return { checked: 0 };
  }

  private maybeFail(method: keyof RealtimeStore): void {
    const error = this.failures.get(method);
    if (error) {
      this.failures.delete(method);
      throw error;
    }
  }
}

function checkCount(count: number, min: number): void {
  if (!Number.isSafeInteger(count) || count < min) throw new InvalidCountError(`KPC_INVALID_COUNT: ${count}`);
}
