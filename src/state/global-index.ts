import type { Cluster, Redis } from 'ioredis';
import { clock } from '../util/clock';
import { execAll } from './exec';
import type { CollectionKeys, StateKeys } from './keys';
import { IndexRepairs } from './index-repairs';
import type { CollectionRef, IndexRepairOutcome, StaleSweep } from './realtime-store';
import { asInteger, decodeCollectionRef } from './replies';
import { RedisRetry } from './redis-retry';
import { defineScripts, runScript } from './scripts';
import { chunksOf } from '../util/chunks';

/** Rooms per call: a list of any length is read or deleted in calls of at most this many arguments. */
const CHUNK = 500;
/**
 * Rounds of a removal's check, in all: one more runs when a room this node
 * found and listed again was deleted before its listing was read back;
 * past them an entry may stay stale (harmless: a reader checks the collection).
 */
const CHECK_ROUNDS = 3;

/**
 * The arguments of each lua/indexRooms call for `entries`: at most
 * {@link CHUNK} rooms per call, and only the collections of those rooms
 * (also at most {@link CHUNK}), so that no call grows with the batch.
 */
function indexCalls(entries: ReadonlyArray<{ k: CollectionKeys; roomIds: readonly string[] }>): Array<{ refs: Set<string>; pairs: string[] }> {
  let call = { refs: new Set<string>(), pairs: [] as string[] };
  const calls = [call];
  for (const { k, roomIds } of entries) {
    // A collection without rooms is listed all the same (in whichever call).
    const full = call.pairs.length >= 2 * CHUNK || (call.refs.size >= CHUNK && !call.refs.has(k.ref));
    if (full) calls.push((call = { refs: new Set<string>(), pairs: [] }));
    call.refs.add(k.ref);
    for (const roomId of roomIds) {
      if (call.pairs.length >= 2 * CHUNK) calls.push((call = { refs: new Set([k.ref]), pairs: [] }));
      call.pairs.push(roomId, k.ref);
    }
  }
  return calls;
}

/** Whether a node's listings of an owner (when it wrote each collection) hold one of `ref` written after `since`. */
function listedAfter(known: ReadonlyMap<string, number> | undefined, ref: string, since: number): boolean {
  const at = known?.get(ref);
  return at !== undefined && at > since;
}

/** How long a node trusts the index listings it wrote (see GlobalIndex.list). */
export interface ListingMemory {
  /** 0 (the default): not at all, every subscription lists its collection. */
  listingTtlMs?: number;
  /** The clock, in ms (default: the monotonic `clock`). */
  now?: () => number;
}

/**
 * The keys that span collections, in the `{<prefix>}` slot: which
 * collections have rooms, in which collection each room lives, where each
 * owner has subscribers, and which owners exist. They cannot be written in
 * the same script as a collection (another slot), so the order of writes
 * keeps them safe: an owner is listed in a collection before its script
 * adds subscribers there, a room's entry is written after the script that
 * created it (or added the owner to it), and entries are removed after the
 * script that deleted their rooms, then re-checked against the collection,
 * so that a room created between the removal and the check keeps its
 * entry, and one created after the check writes its own. An entry may be
 * stale (and is checked against the collection when read) but is never
 * missing once the write that made its room succeeded. A step that gave up
 * after its script may leave a room without its entry for a while: a
 * subscription's write (its callers got the error) until the node's drift
 * check rewrites its state; a removal's check, or a rewrite's relisting,
 * until {@link repairPending} checks their rooms again (no drift check
 * would see those). Each step is retried on its own (see RedisRetry):
 * every one of them may run twice, as it re-checks what it removes.
 */
export class GlobalIndex {
  /**
   * When this node listed each owner (of its own) in each collection, as
   * it wrote them: {@link list} skips those listed less than
   * `listingTtlMs` ago, so that a burst of subscriptions in collections
   * where the node already has subscribers costs no listing round trip.
   * Dropped when the owner leaves the collection or its state is rewritten
   * (see forgetListings). Bounded in time because a peer may purge this
   * node's owner, listings included, while the node runs on (it presumed
   * the node dead after a stall): until the node learns it and rejoins
   * under a new owner, its next subscriptions list their collections again
   * within that time, as every batch did before listings were remembered.
   */
  private readonly listed = new Map<string, Map<string, number>>();
  /** Members of the collection sets that named no collection, dropped since the last sweep step. */
  private unreadableDropped = 0;
  private readonly listingTtlMs: number;
  private readonly now: () => number;
  /** The removals' checks and the relistings that gave up, for {@link repairPending}. */
  private readonly repairs = new IndexRepairs();

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: StateKeys,
    private readonly retry: RedisRetry = RedisRetry.none(),
    listings: ListingMemory = {},
  ) {
    this.listingTtlMs = listings.listingTtlMs ?? 0;
    this.now = listings.now ?? (() => clock.now());
    defineScripts(redis);
  }

  /** The collection, the rooms and the owner are listed. */
  add(k: CollectionKeys, roomIds: readonly string[], owner: string): Promise<void> {
    return this.addAll(owner, [{ k, roomIds }]);
  }

  /**
   * Before an owner's script adds subscribers in these collections: each is
   * listed, with the owner, unless this node listed it for that owner less
   * than `listingTtlMs` ago and the owner has not left it since (nothing is
   * sent then).
   */
  async list(owner: string, ks: readonly CollectionKeys[]): Promise<void> {
    const known = this.listed.get(owner);
    const since = this.now() - this.listingTtlMs;
    const missing = ks.filter((k) => !listedAfter(known, k.ref, since));
    if (missing.length > 0) await this.addAll(owner, missing.map((k) => ({ k, roomIds: [] })));
  }

  /**
   * Drops what {@link list} remembers of the owner: its next writes list
   * their collections again (when the shared state is in doubt: rewritten
   * after Redis lost it, or found to differ from this node's).
   */
  forgetListings(owner: string): void {
    this.listed.delete(owner);
  }

  /**
   * {@link add} for rooms of several collections of one owner: one script
   * (lua/indexRooms) per {@link CHUNK} rooms, on the index's slot. Under a
   * burst of subscriptions this runs for every batch: as four commands,
   * their objects, alive until Redis answered, outlived V8's young
   * generation and left the old one fragmented after the burst.
   */
  async addAll(owner: string, entries: ReadonlyArray<{ k: CollectionKeys; roomIds: readonly string[] }>): Promise<void> {
    if (entries.length === 0) return;
    // The time before the write: a listing is remembered from when it may have landed.
    const listedAt = this.now();
    await this.retry.run('index.add', async () => {
      const keys = [this.keys.collections, this.keys.ownerCollections(owner), this.keys.allOwners, this.keys.roomIndex];
      await Promise.all(indexCalls(entries).map(({ refs, pairs }) => runScript(this.redis, 'indexRooms', keys, [owner, refs.size, ...refs, ...pairs])));
    });
    if (this.listingTtlMs <= 0) return;
    let known = this.listed.get(owner);
    if (!known) this.listed.set(owner, (known = new Map()));
    for (const { k } of entries) known.set(k.ref, listedAt);
  }

  /**
   * After a script created rooms: {@link add} again. A node deleting rooms
   * of the same ids at the same moment may have removed the entries written
   * before the script and looked for the rooms before the script created
   * them (see {@link removeRooms}), which would leave live rooms unlisted
   * for good.
   */
  async relistCreated(k: CollectionKeys, roomIds: readonly string[], owner: string): Promise<void> {
    if (roomIds.length === 0) return;
    try {
      await this.add(k, roomIds, owner);
    } catch (error) {
      // The owner was listed before the script: only the entries are in doubt.
      this.repairs.note(k, roomIds);
      throw error;
    }
  }

  /**
   * Checks again the rooms whose removal's check or relisting gave up (see
   * {@link IndexRepairs}), collection by collection, until one fails: that
   * one and those not tried yet wait for the next call (Redis failing
   * again, each would otherwise wait out its own retries in turn).
   */
  async repairPending(): Promise<IndexRepairOutcome> {
    const pending = this.repairs.take();
    let checked = 0;
    for (const [i, { k, roomIds }] of pending.entries()) {
      try {
        await this.checkEntries(k, [...roomIds]);
      } catch (error) {
        for (const rest of pending.slice(i)) this.repairs.note(rest.k, rest.roomIds);
        return { checked, error };
      }
      checked += roomIds.size;
    }
    return { checked };
  }

  /**
   * Rooms whose entries {@link repairPending} checks against their
   * collection: a subscriber change whose script failed may have deleted
   * them (its reply lost), and nothing else would remove their entries.
   */
  checkLater(k: CollectionKeys, roomIds: readonly string[]): void {
    this.repairs.note(k, roomIds);
  }

  /** Rooms whose entries wait for {@link repairPending}. */
  get pendingRepairs(): number {
    return this.repairs.size;
  }

  /**
   * One step of a walk over the whole index (HSCAN from `cursor`): the
   * entries of rooms gone from their collection are removed as their
   * deleter would have removed them (see {@link removeAndCheck}: a room
   * created again meanwhile keeps its entry), and those that do not decode
   * are dropped, unless rewritten since. The safety net for what every
   * other path may leave stale: a purge step sent again after its reply was
   * lost (its first try deleted rooms the second no longer sees), a node
   * that died with checks pending (see {@link repairPending}), a check
   * that ran out of rounds. Stale entries are harmless to readers, which
   * check the collection, but count as rooms in status.
   */
  async sweepStale(cursor: string, count: number): Promise<StaleSweep> {
    const [next, pairs] = await this.retry.run('index.sweep', () => this.redis.hscan(this.keys.roomIndex, cursor, 'COUNT', count));
    const byCollection = new Map<string, { k: CollectionKeys; roomIds: string[] }>();
    const corrupt: string[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const roomId = pairs[i] as string;
      const json = pairs[i + 1] as string;
      let k: CollectionKeys;
      try {
        const ref = decodeCollectionRef(json, this.keys.roomIndex);
        k = this.keys.collection(ref.index, ref.collection);
      } catch {
        corrupt.push(roomId, json);
        continue;
      }
      let group = byCollection.get(k.ref);
      if (!group) byCollection.set(k.ref, (group = { k, roomIds: [] }));
      group.roomIds.push(roomId);
    }
    const chunks = [...byCollection.values()].flatMap(({ k, roomIds }) => chunksOf(roomIds, CHUNK).map((chunk) => ({ k, chunk })));
    // Side by side (ioredis pipelines them): a step over rooms of many
    // collections waits one round trip, not one per collection.
    const removed = await Promise.all(
      chunks.map(async ({ k, chunk }) => {
        const exists = await this.retry.run('index.sweep', () => this.redis.hmget(k.rooms, ...chunk));
        const gone = chunk.filter((_, i) => exists[i] === null);
        // As a deleter's removal: one that gives up is checked again at the next pass.
        if (gone.length > 0) await this.removeRooms(k, gone);
        return gone.length;
      }),
    );
    const stale = removed.reduce((sum, n) => sum + n, 0);
    let dropped = 0;
    for (const chunk of chunksOf(corrupt, 2 * CHUNK)) {
      const reply = await this.retry.run('index.sweep', () => runScript(this.redis, 'dropEntries', [this.keys.roomIndex], chunk));
      dropped += asInteger(reply, 'dropEntries');
    }
    // Once per walk, at its end: the collections are few beside the rooms.
    const unlisted = next === '0' ? await this.sweepCollections() : 0;
    dropped += this.unreadableDropped;
    this.unreadableDropped = 0;
    return { cursor: next, scanned: pairs.length / 2, stale, corrupt: dropped, unlisted };
  }

  /**
   * Makes the entries of these rooms match their collection: a room it
   * holds gets its entry, never deleted on the way, so a join elsewhere
   * finds it throughout (see {@link listFound}); the entries of the others
   * go as in {@link removeRooms}; and the collection is listed if it has
   * rooms (a removal that gave up may have unlisted it after a room came;
   * see {@link settleListing}).
   */
  private async checkEntries(k: CollectionKeys, roomIds: readonly string[]): Promise<void> {
    const gone = await this.retry.run('index.check', async () => {
      const absent: string[] = [];
      for (const chunk of chunksOf(roomIds, CHUNK)) {
        const exists = await this.redis.hmget(k.rooms, ...chunk);
        absent.push(...chunk.filter((_, i) => exists[i] === null));
        const live = chunk.filter((_, i) => exists[i] !== null);
        if (live.length > 0) absent.push(...(await this.listFound(k, live)));
      }
      return absent;
    });
    if (gone.length > 0) await this.removeAndCheck(k, gone);
    await this.retry.run('index.check', () => this.settleListing(k));
  }

  /**
   * Whether commands sent one after the other run in that order: on one
   * server they share one connection, unless some are auto-pipelined (sent
   * at the end of the turn) and others not (sent at once). Not so on Redis
   * Cluster.
   */
  get keepsOrder(): boolean {
    if (this.redis.isCluster) return false;
    const { enableAutoPipelining, autoPipeliningIgnoredCommands } = this.redis.options;
    return enableAutoPipelining !== true || (autoPipeliningIgnoredCommands ?? []).length === 0;
  }

  /**
   * After rooms were deleted: their entries go, then come back for any room
   * created again meanwhile (its own index write may have come first).
   */
  async removeRooms(k: CollectionKeys, roomIds: readonly string[]): Promise<void> {
    if (roomIds.length === 0) return;
    try {
      await this.removeAndCheck(k, roomIds);
    } catch (error) {
      // The deletion may have gone through, not its check: see repairPending.
      this.repairs.note(k, roomIds);
      throw error;
    }
  }

  /**
   * Deletes the entries, reads the collection, and lists again the rooms
   * it holds (created again meanwhile); any of those deleted again before
   * its listing landed goes in a next round (see {@link listFound}), up to
   * {@link CHECK_ROUNDS}. A step retried after a failure also checks the
   * collection's listing: an unlisting whose reply was lost may have gone
   * through after a room came.
   */
  private async removeAndCheck(k: CollectionKeys, roomIds: readonly string[]): Promise<void> {
    let attempts = 0;
    return this.retry.run('index.removeRooms', async () => {
      attempts++;
      let left = 0;
      let toRemove = roomIds;
      for (let round = 0; round < CHECK_ROUNDS && toRemove.length > 0; round++) {
        const deletedAgain: string[] = [];
        for (const chunk of chunksOf(toRemove, CHUNK)) {
          // On one connection the reads run after the deletion when sent in
          // the same pipeline: one round trip (and one socket write) instead
          // of two on every batch of unsubscriptions that deletes rooms.
          let check = this.redis.pipeline();
          if (this.keepsOrder) check = check.hdel(this.keys.roomIndex, ...chunk);
          else await this.redis.hdel(this.keys.roomIndex, ...chunk);
          // Both reads on the collection's slot.
          const replies = await execAll(check.hmget(k.rooms, ...chunk).hlen(k.rooms));
          const [exists, size] = replies.slice(-2);
          left = size as number;
          const recreated = chunk.filter((_, i) => (exists as Array<string | null>)[i] !== null);
          if (recreated.length > 0) deletedAgain.push(...(await this.listFound(k, recreated)));
        }
        toRemove = deletedAgain;
      }
      if (left === 0 || attempts > 1) await this.settleListing(k, left);
    });
  }

  /**
   * Lists rooms found in their collection, then reads them there again and
   * returns those deleted meanwhile: their deleter's removal of the entry
   * may have come before this listing, which would leave it stale for
   * good. A room still there at that read is deleted later if at all, and
   * its deleter removes this entry then.
   */
  private async listFound(k: CollectionKeys, roomIds: readonly string[]): Promise<string[]> {
    const multi = this.redis.multi().sadd(this.keys.collections, k.ref);
    for (const roomId of roomIds) multi.hset(this.keys.roomIndex, roomId, k.ref);
    await execAll(multi);
    const exists = await this.redis.hmget(k.rooms, ...roomIds);
    return roomIds.filter((_, i) => exists[i] === null);
  }

  /**
   * The collection listed whenever it has rooms: unlisted when it has none
   * (`size`, when just read), then listed again if a room came meanwhile
   * (its own index write may have come first). One direction only: a
   * collection emptied right after it was found with rooms may stay
   * listed (harmless: a reader checks the collection).
   */
  private async settleListing(k: CollectionKeys, size?: number): Promise<void> {
    if ((size ?? (await this.redis.hlen(k.rooms))) > 0) {
      await this.redis.sadd(this.keys.collections, k.ref);
      return;
    }
    await this.redis.srem(this.keys.collections, k.ref);
    if ((await this.redis.hlen(k.rooms)) > 0) await this.redis.sadd(this.keys.collections, k.ref);
  }

  /**
   * After an owner's last subscriber left a collection: the collection is
   * unlisted for the owner, and the owner itself once it has none left; each
   * is listed again if a subscriber came back meanwhile (its own writes
   * list it first).
   */
  async removeOwnerCollection(k: CollectionKeys, owner: string): Promise<void> {
    this.listed.get(owner)?.delete(k.ref);
    return this.retry.run('index.removeOwnerCollection', async () => {
      const collections = this.keys.ownerCollections(owner);
      await this.redis.srem(collections, k.ref);
      if ((await this.redis.hexists(k.owners, owner)) === 1) await this.redis.sadd(collections, k.ref);
      if ((await this.redis.scard(collections)) > 0) return;
      await this.redis.srem(this.keys.allOwners, owner);
      if ((await this.redis.scard(collections)) > 0) await this.redis.sadd(this.keys.allOwners, owner);
    });
  }

  /** After an owner was purged from every collection. */
  async forgetOwner(owner: string): Promise<void> {
    this.forgetListings(owner);
    return this.retry.run('index.forgetOwner', async () => {
      await execAll(this.redis.multi().del(this.keys.ownerCollections(owner)).srem(this.keys.allOwners, owner));
    });
  }

  async ownerCollections(owner: string): Promise<CollectionRef[]> {
    return this.retry.run('index.ownerCollections', async () => {
      return this.decodeRefs(await this.redis.smembers(this.keys.ownerCollections(owner)), this.keys.ownerCollections(owner));
    });
  }

  async collections(): Promise<CollectionRef[]> {
    return this.retry.run('index.collections', async () => {
      return this.decodeRefs(await this.redis.smembers(this.keys.collections), this.keys.collections);
    });
  }

  countRooms(): Promise<number> {
    return this.retry.run('index.countRooms', () => this.redis.hlen(this.keys.roomIndex));
  }

  owners(): Promise<string[]> {
    return this.retry.run('index.owners', () => this.redis.smembers(this.keys.allOwners));
  }

  /** The collection of each of these rooms the index lists (one read per {@link CHUNK} rooms). */
  async locateAll(roomIds: readonly string[]): Promise<Map<string, CollectionRef>> {
    const located = new Map<string, CollectionRef>();
    for (const chunk of chunksOf(roomIds, CHUNK)) {
      const refs = await this.retry.run('index.locateAll', () => this.redis.hmget(this.keys.roomIndex, ...chunk));
      chunk.forEach((roomId, i) => {
        const ref = refs[i];
        if (ref !== null && ref !== undefined) located.set(roomId, decodeCollectionRef(ref, this.keys.roomIndex));
      });
    }
    return located;
  }

  /** The collection of a room; undefined when the index has no entry. */
  async locate(roomId: string): Promise<CollectionRef | undefined> {
    return this.retry.run('index.locate', async () => {
      const ref = await this.redis.hget(this.keys.roomIndex, roomId);
      return ref === null ? undefined : decodeCollectionRef(ref, this.keys.roomIndex);
    });
  }

  /**
   * The collections a set names. A member that names none (only a foreign
   * or broken writer leaves one) is dropped, rather than failing every read
   * of the set (realtime:list, an owner's purge); counted in the next
   * sweep step's `corrupt`.
   */
  private decodeRefs(members: string[], key: string): CollectionRef[] {
    const refs: CollectionRef[] = [];
    const unreadable: string[] = [];
    for (const member of members) {
      try {
        refs.push(decodeCollectionRef(member, key));
      } catch {
        unreadable.push(member);
      }
    }
    if (unreadable.length > 0) {
      this.unreadableDropped += unreadable.length;
      // SREM names the member itself: nothing written meanwhile can be lost.
      void this.redis.srem(key, ...unreadable).catch(() => undefined);
    }
    return refs;
  }

  /**
   * Collections listed with no room left (a listing whose script then gave
   * up, its owner purged since): unlisted as a deleter unlists them, a
   * subscriber's own write listing them again if one comes meanwhile.
   */
  private async sweepCollections(): Promise<number> {
    let cursor = '0';
    let unlisted = 0;
    do {
      const [next, members] = await this.retry.run('index.sweep', () => this.redis.sscan(this.keys.collections, cursor, 'COUNT', CHUNK));
      cursor = next;
      const collections = this.decodeRefs(members, this.keys.collections).map((ref) => this.keys.collection(ref.index, ref.collection));
      const sizes = await Promise.all(collections.map((k) => this.retry.run('index.sweep', () => this.redis.hlen(k.rooms))));
      const empty = collections.filter((_, i) => sizes[i] === 0);
      // Found empty just now: settleListing needs not read it again before unlisting (it reads it after).
      await Promise.all(empty.map((k) => this.retry.run('index.sweep', () => this.settleListing(k, 0))));
      unlisted += empty.length;
    } while (cursor !== '0');
    return unlisted;
  }
}
