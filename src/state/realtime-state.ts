import type { Cluster, Redis } from 'ioredis';
import { InvalidCountError, StaleRoomListError, TooManyRetriesError } from './errors';
import { DEFAULT_PREFIX, StateKeys, encodeCollectionRef, type CollectionKeys } from './keys';
import {
  decodeCollectionRef,
  decodeCountReply,
  decodeGetCollection,
  decodeSetNodeCounts,
  encodeRoom,
  type RoomSnapshot,
  type SetNodeCountsReply,
} from './replies';
import { defineScripts, runScript } from './scripts';

export type { RoomSnapshot } from './replies';

/** A realtime room: a Koncorde filter on one index/collection. */
export interface RoomDescription {
  index: string;
  collection: string;
  roomId: string;
  /** Normalized Koncorde filters, stored as JSON. */
  filters: unknown;
}

/** A room with this node's subscriber count, for {@link RealtimeState.replaceNode}. */
export interface NodeRoom extends RoomDescription {
  count: number;
}

/** What a node purge changed in one collection. */
export interface CollectionChange {
  index: string;
  collection: string;
  version: number;
  /** Rooms deleted because no subscriber was left cluster-wide. */
  removedRooms: string[];
}

/** What a node replacement changed in one collection. */
export interface CollectionReplacement extends CollectionChange {
  /** Rooms that did not exist cluster-wide before. */
  addedRooms: string[];
}

/** A consistent snapshot of one collection. */
export interface CollectionSnapshot {
  index: string;
  collection: string;
  version: number;
  rooms: RoomSnapshot[];
}

/** Multi-room scripts retry when rooms appear between listing and running. */
const MAX_ATTEMPTS = 20;
/** Collections handled in parallel by cluster-wide walks. */
const PARALLELISM = 8;

async function mapLimit<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLELISM, items.length) }, worker));
  return results;
}

function checkCount(count: number, min: number): void {
  if (!Number.isSafeInteger(count) || count < min) throw new InvalidCountError(`KPC_INVALID_COUNT: ${count} (integer >= ${min} expected)`);
}

/**
 * The realtime subscription state shared by every node of the cluster:
 * rooms, their filters and per-node subscriber counts, versioned per
 * collection. Every change of a collection is one Lua script, hence atomic;
 * the global room index and collections set live in another slot and are
 * updated right after.
 */
export class RealtimeState {
  /** Key builder of this state's prefix. */
  readonly keys: StateKeys;

  /**
   * @param redis - a standalone or cluster ioredis client (see `createRedisClient`)
   * @param options.prefix - key prefix, default `kpc`; must not contain braces
   */
  constructor(private readonly redis: Redis | Cluster, options: { prefix?: string } = {}) {
    this.keys = new StateKeys(options.prefix ?? DEFAULT_PREFIX);
  }

  /** Defines the Lua scripts on the client. Idempotent. */
  async init(): Promise<void> {
    defineScripts(this.redis);
  }

  /** Adds `count` subscribers of `nodeId` to a room, creating it if needed. */
  async addSubscriber(room: RoomDescription, nodeId: string, count = 1): Promise<{ version: number; total: number; created: boolean }> {
    checkCount(count, 1);
    const k = this.keys.collection(room.index, room.collection);
    const reply = decodeCountReply(
      await runScript(this.redis, 'addSubscriber', [k.rooms, k.room(room.roomId), k.version, k.nodes, k.nodeTotals], [
        room.roomId,
        nodeId,
        count,
        encodeRoom(room.filters),
      ]),
      'addSubscriber',
    );
    if (reply.flag) await this.indexRooms(k, [room.roomId]);
    return { version: reply.version, total: reply.total, created: reply.flag };
  }

  /** Removes up to `count` subscribers of `nodeId` from a room; deletes the room at 0. */
  async removeSubscriber(
    index: string,
    collection: string,
    roomId: string,
    nodeId: string,
    count = 1,
  ): Promise<{ version: number; total: number; removed: boolean }> {
    checkCount(count, 1);
    const k = this.keys.collection(index, collection);
    const reply = decodeCountReply(
      await runScript(this.redis, 'removeSubscriber', [k.rooms, k.room(roomId), k.version, k.nodes, k.nodeTotals], [roomId, nodeId, count]),
      'removeSubscriber',
    );
    if (reply.flag) await this.unindexRooms(k, [roomId]);
    return { version: reply.version, total: reply.total, removed: reply.flag };
  }

  /** Purges every subscriber of a (dead) node; returns the collections that changed. */
  async removeNode(nodeId: string): Promise<CollectionChange[]> {
    const changes = await mapLimit(await this.collectionsOfNode(nodeId), async (k) => {
      const reply = await this.setNodeCounts(k, nodeId, new Map());
      return reply.changed ? { index: k.index, collection: k.collection, version: reply.version, removedRooms: reply.removedRooms } : undefined;
    });
    return changes.filter((change): change is CollectionChange => change !== undefined);
  }

  /**
   * Makes a node's contribution exactly `rooms` (counts of one roomId are
   * summed; a count of 0 means absent). Returns the collections that changed.
   */
  async replaceNode(nodeId: string, rooms: readonly NodeRoom[]): Promise<CollectionReplacement[]> {
    const wanted = new Map<string, { keys: CollectionKeys; rooms: Map<string, { count: number; json: string }> }>();
    const entryOf = (k: CollectionKeys) => {
      let entry = wanted.get(k.tag);
      if (!entry) wanted.set(k.tag, (entry = { keys: k, rooms: new Map() }));
      return entry;
    };
    for (const room of rooms) {
      checkCount(room.count, 0);
      const entry = entryOf(this.keys.collection(room.index, room.collection));
      const previous = entry.rooms.get(room.roomId)?.count ?? 0;
      entry.rooms.set(room.roomId, { count: previous + room.count, json: encodeRoom(room.filters) });
    }
    for (const k of await this.collectionsOfNode(nodeId)) entryOf(k);
    const changes = await mapLimit([...wanted.values()], async ({ keys: k, rooms: roomCounts }) => {
      const reply = await this.setNodeCounts(k, nodeId, roomCounts);
      if (!reply.changed) return undefined;
      return { index: k.index, collection: k.collection, version: reply.version, removedRooms: reply.removedRooms, addedRooms: reply.addedRooms };
    });
    return changes.filter((change): change is CollectionReplacement => change !== undefined);
  }

  /** A consistent snapshot of one collection (one script call). */
  async getCollection(index: string, collection: string): Promise<CollectionSnapshot> {
    const k = this.keys.collection(index, collection);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const roomIds = await this.redis.hkeys(k.rooms);
      try {
        const reply = await runScript(this.redis, 'getCollection', [k.rooms, k.version, ...roomIds.map((id) => k.room(id))], roomIds);
        return { index, collection, ...decodeGetCollection(reply, k.rooms) };
      } catch (error) {
        if (!(error instanceof StaleRoomListError)) throw error;
      }
    }
    throw new TooManyRetriesError(`KPC_TOO_MANY_RETRIES: rooms of ${JSON.stringify([index, collection])} kept changing`);
  }

  /** Snapshots of every known collection that has rooms. */
  async getAll(): Promise<CollectionSnapshot[]> {
    const snapshots = await mapLimit(await this.knownCollections(), (k) => this.getCollection(k.index, k.collection));
    return snapshots.filter((snapshot) => snapshot.rooms.length > 0);
  }

  /** The index/collection of a room, or undefined when the room does not exist. */
  async locateRoom(roomId: string): Promise<{ index: string; collection: string } | undefined> {
    const ref = await this.redis.hget(this.keys.roomIndex, roomId);
    if (ref === null) return undefined;
    const located = decodeCollectionRef(ref, this.keys.roomIndex);
    // The index is updated outside the collection's script: trust the collection.
    const exists = await this.redis.hexists(this.keys.collection(located.index, located.collection).rooms, roomId);
    return exists === 1 ? located : undefined;
  }

  /** Cluster-wide subscribers of a room, or undefined when the room does not exist. */
  async countRoom(roomId: string): Promise<number | undefined> {
    const located = await this.locateRoom(roomId);
    if (!located) return undefined;
    const k = this.keys.collection(located.index, located.collection);
    const total = Number(await runScript(this.redis, 'countRoom', [k.rooms, k.room(roomId)], [roomId]));
    return total < 0 ? undefined : total;
  }

  /** Current version of a collection (0 when it never changed). */
  async getVersion(index: string, collection: string): Promise<number> {
    const value = await this.redis.get(this.keys.collection(index, collection).version);
    return value === null ? 0 : Number(value);
  }

  /**
   * Deletes every key of this prefix, walking the collections set and the
   * room index (no KEYS/SCAN, which a cluster would need on every node).
   */
  async clear(): Promise<void> {
    const refs = new Set([...(await this.redis.smembers(this.keys.collections)), ...(await this.redis.hvals(this.keys.roomIndex))]);
    const collections: CollectionKeys[] = [];
    for (const ref of refs) {
      try {
        const { index, collection } = decodeCollectionRef(ref, this.keys.collections);
        collections.push(this.keys.collection(index, collection));
      } catch {
        // A corrupt reference names no collection; it goes with the global keys.
      }
    }
    await mapLimit(collections, async (k) => {
      const roomKeys = (await this.redis.hkeys(k.rooms)).map((id) => k.room(id));
      const keys = [k.rooms, k.version, k.nodes, k.nodeTotals, ...roomKeys];
      // One slot per collection, so a multi-key DEL is cluster-safe.
      for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
    });
    await this.redis.del(...this.keys.globalKeys());
  }

  /** Runs setNodeCounts with a fresh room list, retrying when it went stale. */
  private async setNodeCounts(k: CollectionKeys, nodeId: string, wanted: Map<string, { count: number; json: string }>): Promise<SetNodeCountsReply> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const roomIds = [...new Set([...(await this.redis.hkeys(k.rooms)), ...wanted.keys()])];
      const args: Array<string | number> = [nodeId];
      for (const id of roomIds) {
        const want = wanted.get(id);
        args.push(id, want?.count ?? 0, want?.json ?? '');
      }
      try {
        const reply = decodeSetNodeCounts(
          await runScript(this.redis, 'setNodeCounts', [k.rooms, k.version, k.nodes, k.nodeTotals, ...roomIds.map((id) => k.room(id))], args),
        );
        if (reply.addedRooms.length > 0) await this.indexRooms(k, reply.addedRooms);
        if (reply.removedRooms.length > 0) await this.unindexRooms(k, reply.removedRooms);
        return reply;
      } catch (error) {
        if (!(error instanceof StaleRoomListError)) throw error;
      }
    }
    throw new TooManyRetriesError(`KPC_TOO_MANY_RETRIES: rooms of ${JSON.stringify([k.index, k.collection])} kept changing`);
  }

  /** Collections of the collections set, decoded. */
  private async knownCollections(): Promise<CollectionKeys[]> {
    const refs = await this.redis.smembers(this.keys.collections);
    return refs.map((ref) => {
      const { index, collection } = decodeCollectionRef(ref, this.keys.collections);
      return this.keys.collection(index, collection);
    });
  }

  /** Known collections whose nodes set holds `nodeId`. */
  private async collectionsOfNode(nodeId: string): Promise<CollectionKeys[]> {
    const collections = await this.knownCollections();
    const member = await mapLimit(collections, (k) => this.redis.sismember(k.nodes, nodeId));
    return collections.filter((_, i) => member[i] === 1);
  }

  /** Records new rooms in the global collections set and room index. */
  private async indexRooms(k: CollectionKeys, roomIds: readonly string[]): Promise<void> {
    const ref = encodeCollectionRef(k.index, k.collection);
    await this.redis.sadd(this.keys.collections, ref);
    await this.redis.hset(this.keys.roomIndex, new Map(roomIds.map((id) => [id, ref])));
  }

  /**
   * Drops deleted rooms from the room index, then puts back those another
   * node re-created meanwhile (its own index write may have come first).
   */
  private async unindexRooms(k: CollectionKeys, roomIds: readonly string[]): Promise<void> {
    await this.redis.hdel(this.keys.roomIndex, ...roomIds);
    const exists = await this.redis.hmget(k.rooms, ...roomIds);
    const recreated = roomIds.filter((_, i) => exists[i] !== null);
    if (recreated.length > 0) await this.indexRooms(k, recreated);
  }
}
