import { CorruptStateError, parseStoredJson } from './errors';

/**
 * Decoders of script replies: Redis hands back untyped nested arrays, checked
 * here so that the rest of the module works on typed values.
 */

function fail(what: string, reply: unknown): never {
  throw new CorruptStateError(`unexpected ${what} reply from Redis: ${JSON.stringify(reply)}`);
}

function asArray(value: unknown, what: string): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : fail(what, value);
}

function asInteger(value: unknown, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : fail(what, value);
}

function asString(value: unknown, what: string): string {
  return typeof value === 'string' ? value : fail(what, value);
}

/** `{version, total, flag}` of addSubscriber / removeSubscriber. */
export function decodeCountReply(reply: unknown, what: string): { version: number; total: number; flag: boolean } {
  const [version, total, flag] = asArray(reply, what);
  return { version: asInteger(version, what), total: asInteger(total, what), flag: asInteger(flag, what) === 1 };
}

/** Reply of setNodeCounts. */
export interface SetNodeCountsReply {
  version: number;
  changed: boolean;
  removedRooms: string[];
  addedRooms: string[];
}

export function decodeSetNodeCounts(reply: unknown): SetNodeCountsReply {
  const what = 'setNodeCounts';
  const [version, changed, removed, added] = asArray(reply, what);
  return {
    version: asInteger(version, what),
    changed: asInteger(changed, what) === 1,
    removedRooms: asArray(removed, what).map((id) => asString(id, what)),
    addedRooms: asArray(added, what).map((id) => asString(id, what)),
  };
}

/** One room of a collection snapshot. */
export interface RoomSnapshot {
  roomId: string;
  filters: unknown;
  /** nodeId → subscribers of that node in the room. */
  counts: Record<string, number>;
  /** Cluster-wide subscribers of the room. */
  total: number;
}

/** The stored value of a room (`rooms` hash). */
export function encodeRoom(filters: unknown): string {
  return JSON.stringify({ filters: filters ?? null });
}

/** Parses a room's stored JSON; `key` names the hash for error reports. */
export function decodeRoom(json: string, key: string): { filters: unknown } {
  const value = parseStoredJson(json, key);
  if (typeof value !== 'object' || value === null || !('filters' in value)) {
    throw new CorruptStateError(`room stored in ${key} is not {filters}: ${json.slice(0, 200)}`, key);
  }
  return { filters: value.filters };
}

export function decodeGetCollection(reply: unknown, roomsKey: string): { version: number; rooms: RoomSnapshot[] } {
  const what = 'getCollection';
  const [version, rooms] = asArray(reply, what);
  return {
    version: asInteger(version, what),
    rooms: asArray(rooms, what).map((entry) => {
      const [roomId, json, flat] = asArray(entry, what);
      const pairs = asArray(flat, what);
      const counts: Record<string, number> = {};
      let total = 0;
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const count = asInteger(pairs[i + 1], what);
        // defineProperty: a node id such as "__proto__" must stay a plain key.
        Object.defineProperty(counts, asString(pairs[i], what), { value: count, enumerable: true, writable: true, configurable: true });
        total += count;
      }
      return { roomId: asString(roomId, what), filters: decodeRoom(asString(json, what), roomsKey).filters, counts, total };
    }),
  };
}

/** Parses a `[index, collection]` reference (collections set, room index). */
export function decodeCollectionRef(json: string, key: string): { index: string; collection: string } {
  const value = parseStoredJson(json, key);
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
    return { index: value[0], collection: value[1] };
  }
  throw new CorruptStateError(`not an [index, collection] pair in ${key}: ${json.slice(0, 200)}`, key);
}
