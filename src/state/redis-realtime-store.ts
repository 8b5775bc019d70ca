import Bluebird from 'bluebird';
import type { Cluster, Redis } from 'ioredis';
import { InvalidCountError } from './errors';
import { GlobalIndex, type ListingMemory } from './global-index';
import { encodeCollectionRef, type CollectionKeys, type StateKeys } from './keys';
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
} from './realtime-store';
import { asArray, asInteger, asStrings, decodeRoom, encodeRoom } from './replies';
import { Histogram, type HistogramSnapshot } from '../util/histogram';
import { RedisRetry } from './redis-retry';
import { checksumField } from './room-weight';
import { SubscriberWrites } from './subscriber-writes';
import { defineScripts, runScript, type ScriptName } from './scripts';
import { yieldToEventLoop } from '../util/yield';

/** Least time a batch token is kept in Redis (see adjustSubscribers). */
const BATCH_TOKEN_MIN_MS = 5 * 60_000;

/** Rooms per script call or scan step: each Redis call stays short whatever the collection holds. */
const BATCH = 500;
/** Rooms per step of a count scan: a pair is a room id and a number, so steps can be larger. */
const COUNT_BATCH = 5000;
/** Collections handled in parallel by walks over several collections. */
const PARALLELISM = 8;

function checkCount(count: number, min: number): void {
  if (!Number.isSafeInteger(count) || count < min) throw new InvalidCountError(`KPC_INVALID_COUNT: ${count} (integer >= ${min} expected)`);
}

/**
 * {@link RealtimeStore} over Redis. Each change of a collection is one Lua
 * script (atomic, one slot; a turn's subscriptions share one, see
 * {@link SubscriberWrites}); the global index lives in another slot and is
 * written in an order that leaves harmless stale entries, and no room
 * without its entry once its write succeeded (see {@link GlobalIndex} for
 * the failures that can). No call's argument count grows with the number
 * of rooms: large writes, purges and scans go in batches.
 */
export class RedisRealtimeStore implements RealtimeStore {
  private readonly index: GlobalIndex;
  private readonly writes: SubscriberWrites;
  private readonly latency = new Map<ScriptName, Histogram>();
  /** Subscriptions' script calls so far: each call's batch token. */
  private batches = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: StateKeys,
    private readonly retry: RedisRetry = RedisRetry.none(),
    listings: ListingMemory = {},
  ) {
    defineScripts(redis);
    this.index = new GlobalIndex(redis, keys, retry, listings);
    // One token per call, the same for every try of it: a try whose reply
    // was lost is not applied again (see adjustSubscribers). Kept past the
    // retries' bound, and ioredis' own resends, which end within seconds.
    const keepTokenMs = Math.max(BATCH_TOKEN_MIN_MS, 2 * retry.boundMs);
    this.writes = new SubscriberWrites(this.index, (k, owner, changes) =>
      this.run('adjustSubscribers', this.scriptKeys(k, owner), [owner, `${++this.batches}`, keepTokenMs, ...changes]),
    );
  }

  async addSubscriber(room: RoomRecord, owner: string, count = 1, ownerHasRoom = false): Promise<{ total: number; created: boolean }> {
    checkCount(count, 1);
    const k = this.keys.collection(room.index, room.collection);
    const { total, created } = await this.writes.write({ k, owner, roomId: room.roomId, delta: count, json: encodeRoom(room.filters), indexed: ownerHasRoom });
    return { total, created };
  }

  async removeSubscriber(ref: CollectionRef, roomId: string, owner: string, count = 1): Promise<{ total: number; removed: boolean }> {
    checkCount(count, 1);
    const { total, removed } = await this.writes.write({ k: this.keys.collection(ref.index, ref.collection), owner, roomId, delta: -count, json: '', indexed: true });
    return { total, removed };
  }

  async replaceOwner(owner: string, rooms: readonly OwnerRoom[], scope?: readonly CollectionRef[], abandoned: () => boolean = () => false): Promise<CollectionChange[]> {
    // The listings this node remembers may be what the shared state lost.
    this.index.forgetListings(owner);
    const wanted = new Map<string, { keys: CollectionKeys; rooms: Map<string, { count: number; json: string }> }>();
    const entryOf = (k: CollectionKeys) => {
      let entry = wanted.get(k.ref);
      if (!entry) wanted.set(k.ref, (entry = { keys: k, rooms: new Map() }));
      return entry;
    };
    const inScope = scope ? new Set(scope.map((ref) => this.keys.collection(ref.index, ref.collection).ref)) : undefined;
    for (const room of rooms) {
      checkCount(room.count, 0);
      const k = this.keys.collection(room.index, room.collection);
      if (inScope && !inScope.has(k.ref)) continue;
      const entry = entryOf(k);
      const previous = entry.rooms.get(room.roomId)?.count ?? 0;
      entry.rooms.set(room.roomId, { count: previous + room.count, json: encodeRoom(room.filters) });
    }
    const others = scope ?? (await this.index.ownerCollections(owner));
    for (const ref of others) entryOf(this.keys.collection(ref.index, ref.collection));
    const changes = await Bluebird.map([...wanted.values()], ({ keys: k, rooms: counts }) => this.replaceInCollection(k, owner, counts, abandoned), {
      concurrency: PARALLELISM,
    });
    return changes.filter((change) => change.addedRooms.length > 0 || change.removedRooms.length > 0);
  }

  /** Sets the wanted counts batch by batch, then zeroes the owner's rooms that are not wanted. */
  private async replaceInCollection(
    k: CollectionKeys,
    owner: string,
    counts: Map<string, { count: number; json: string }>,
    abandoned: () => boolean,
  ): Promise<CollectionChange> {
    const change: CollectionChange = { index: k.index, collection: k.collection, addedRooms: [], removedRooms: [] };
    const entries = [...counts].filter(([, want]) => want.count > 0);
    for (let i = 0; i < entries.length; i += BATCH) {
      if (abandoned()) break;
      const batch = entries.slice(i, i + BATCH);
      // The entries confirmed first, then written again for the rooms created
      // (see relistCreated); not after the script alone, as subscriptions
      // are: a rewrite that failed there would leave counts that match this
      // node's, which its drift check takes as right, without their entries.
      await this.index.add(k, batch.map(([roomId]) => roomId), owner);
      await this.setOwnerCounts(k, owner, batch.map(([roomId, want]) => [roomId, want.count, want.json]), change);
    }
    await this.index.relistCreated(k, change.addedRooms, owner);
    if (abandoned()) return change;
    const stale: string[] = [];
    await this.scanHash(k.ownerRooms(owner), (pairs) => {
      for (let i = 0; i < pairs.length; i += 2) {
        const roomId = pairs[i] as string;
        if ((counts.get(roomId)?.count ?? 0) === 0) stale.push(roomId);
      }
    });
    for (let i = 0; i < stale.length; i += BATCH) {
      if (abandoned()) break;
      await this.setOwnerCounts(k, owner, stale.slice(i, i + BATCH).map((roomId) => [roomId, 0, '']), change);
    }
    if (change.removedRooms.length > 0) await this.index.removeRooms(k, change.removedRooms);
    if (entries.length === 0 && !abandoned()) await this.index.removeOwnerCollection(k, owner);
    return change;
  }

  private async setOwnerCounts(
    k: CollectionKeys,
    owner: string,
    triples: Array<[string, number, string]>,
    change: CollectionChange,
  ): Promise<void> {
    const args: Array<string | number> = [owner];
    for (const triple of triples) args.push(...triple);
    const [added, removed] = asArray(await this.run('setOwnerCounts', this.scriptKeys(k, owner), args), 'setOwnerCounts');
    change.addedRooms.push(...asStrings(added, 'setOwnerCounts'));
    change.removedRooms.push(...asStrings(removed, 'setOwnerCounts'));
  }

  async purgeOwner(owner: string, alsoIn: readonly CollectionRef[] = []): Promise<CollectionChange[]> {
    const listed = await this.index.ownerCollections(owner);
    const refs = [...new Map([...listed, ...alsoIn].map((ref) => [encodeCollectionRef(ref.index, ref.collection), ref])).values()];
    const changes = await Bluebird.map(refs, async (ref) => {
      const k = this.keys.collection(ref.index, ref.collection);
      const change: CollectionChange = { index: k.index, collection: k.collection, addedRooms: [], removedRooms: [] };
      // A full cursor walk sees every entry present when it started; one more
      // walk runs if entries were added meanwhile (done stays 0).
      for (let cursor = '0', done = false; !done; ) {
        const [removed, next, finished] = asArray(
          await this.run('purgeOwner', this.scriptKeys(k, owner), [owner, BATCH, cursor]),
          'purgeOwner',
        );
        change.removedRooms.push(...asStrings(removed, 'purgeOwner'));
        cursor = String(next);
        done = asInteger(finished, 'purgeOwner') === 1;
        if (!done) await yieldToEventLoop();
      }
      if (change.removedRooms.length > 0) await this.index.removeRooms(k, change.removedRooms);
      return change;
    }, { concurrency: PARALLELISM });
    // Last: until here, a failure leaves the owner listed, so a later sweep finishes the job.
    await this.index.forgetOwner(owner);
    return changes.filter((change) => change.removedRooms.length > 0);
  }

  async countRoom(roomId: string, where?: CollectionRef): Promise<number | undefined> {
    const ref = where ?? (await this.index.locate(roomId));
    if (!ref) return undefined;
    const total = await this.retry.run('countRoom', () => this.redis.hget(this.keys.collection(ref.index, ref.collection).counts, roomId));
    return total === null ? undefined : asInteger(total, 'countRoom');
  }

  async findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined> {
    const ref = await this.index.locate(roomId);
    if (!ref) return undefined;
    const k = this.keys.collection(ref.index, ref.collection);
    const json = await this.retry.run('findRoom', () => this.redis.hget(k.rooms, roomId));
    return json === null ? undefined : { ...ref, filters: decodeRoom(json, k.rooms).filters };
  }

  collections(): Promise<CollectionRef[]> {
    return this.index.collections();
  }

  async scanRooms(ref: CollectionRef, onBatch: (rooms: StoredRoom[]) => Promise<void> | void): Promise<void> {
    const k = this.keys.collection(ref.index, ref.collection);
    await this.scanHash(k.rooms, async (pairs) => {
      const ids = pairs.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) return;
      const totals = await this.retry.run('scanRooms', () => this.redis.hmget(k.counts, ...ids));
      const rooms: StoredRoom[] = [];
      ids.forEach((roomId, i) => {
        const total = totals[i];
        // Removed between the two reads: not a room any more.
        if (total === null || total === undefined) return;
        rooms.push({ roomId, filters: decodeRoom(pairs[2 * i + 1] as string, k.rooms).filters, total: asInteger(total, 'scanRooms') });
      });
      await onBatch(rooms);
    });
  }

  async scanCounts(ref: CollectionRef, onBatch: (rooms: RoomCount[]) => Promise<void> | void): Promise<void> {
    const k = this.keys.collection(ref.index, ref.collection);
    await this.scanHash(k.counts, async (pairs) => {
      const rooms: RoomCount[] = [];
      for (let i = 0; i < pairs.length; i += 2) rooms.push({ roomId: pairs[i] as string, total: asInteger(pairs[i + 1], 'scanCounts') });
      if (rooms.length > 0) await onBatch(rooms);
    }, COUNT_BATCH);
  }

  async missingRooms(roomIds: readonly string[]): Promise<string[]> {
    const located = await this.index.locateAll(roomIds);
    const missing = roomIds.filter((roomId) => !located.has(roomId));
    // An index entry may be stale (see GlobalIndex): the collection decides.
    for (const [roomId, ref] of located) if ((await this.countRoom(roomId, ref)) === undefined) missing.push(roomId);
    return missing;
  }

  owners(): Promise<string[]> {
    return this.index.owners();
  }

  async ownerDigest(owner: string): Promise<OwnerDigest[]> {
    const refs = await this.index.ownerCollections(owner);
    return Bluebird.map(refs, async (ref) => {
      const k = this.keys.collection(ref.index, ref.collection);
      const [[subscribers, checksum], rooms] = await this.retry.run('ownerDigest', () =>
        Promise.all([this.redis.hmget(k.owners, owner, checksumField(owner)), this.redis.hlen(k.ownerRooms(owner))]),
      );
      const integer = (value: string | null | undefined): number => (value === null || value === undefined ? 0 : asInteger(value, 'ownerDigest'));
      return { ...ref, rooms, subscribers: integer(subscribers), checksum: integer(checksum) };
    }, { concurrency: PARALLELISM });
  }

  repairPending(): Promise<IndexRepairOutcome> {
    return this.index.repairPending();
  }

  async unlistedRooms(rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<Array<CollectionRef & { roomId: string }>> {
    const located = await this.index.locateAll(rooms.map((room) => room.roomId));
    return rooms.filter((room) => !located.has(room.roomId));
  }

  writeEntries(owner: string, rooms: ReadonlyArray<CollectionRef & { roomId: string }>): Promise<void> {
    const entries = new Map<string, { k: CollectionKeys; roomIds: string[] }>();
    for (const room of rooms) {
      const k = this.keys.collection(room.index, room.collection);
      let entry = entries.get(k.ref);
      if (!entry) entries.set(k.ref, (entry = { k, roomIds: [] }));
      entry.roomIds.push(room.roomId);
    }
    return this.index.addAll(owner, [...entries.values()]);
  }

  sweepStaleEntries(cursor: string, count: number): Promise<StaleSweep> {
    return this.index.sweepStale(cursor, count);
  }

  /** Rooms of the whole cluster (entries of the room index; a stale one is rare and short-lived). */
  countRooms(): Promise<number> {
    return this.index.countRooms();
  }

  /** How long each Lua script took, per script. */
  scriptLatency(): Record<string, HistogramSnapshot> {
    const latency: Record<string, HistogramSnapshot> = {};
    for (const [name, histogram] of this.latency) latency[name] = histogram.snapshot();
    return latency;
  }

  /** Runs a script and records how long it took. */
  private async run(name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    const started = process.hrtime();
    try {
      return await this.retry.run(name, () => runScript(this.redis, name, keys, args));
    } finally {
      const [seconds, nanoseconds] = process.hrtime(started);
      let histogram = this.latency.get(name);
      if (!histogram) this.latency.set(name, (histogram = new Histogram()));
      histogram.observe(seconds + nanoseconds / 1e9);
    }
  }

  private scriptKeys(k: CollectionKeys, owner: string): string[] {
    return [k.rooms, k.counts, k.ownerRooms(owner), k.owners, k.lastBatch(owner)];
  }

  /** HSCAN in steps, yielding to the event loop between them. */
  private async scanHash(key: string, onPairs: (pairs: string[]) => Promise<void> | void, count = BATCH): Promise<void> {
    let cursor = '0';
    do {
      const [next, pairs] = await this.retry.run('hscan', () => this.redis.hscan(key, cursor, 'COUNT', count));
      cursor = next;
      await onPairs(pairs);
      if (cursor !== '0') await yieldToEventLoop();
    } while (cursor !== '0');
  }
}
