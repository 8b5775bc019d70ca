/**
 * Key layout of the shared realtime state in Redis.
 *
 * Every key of one collection shares one hash tag, so that a Lua script
 * touching a collection stays in a single Redis Cluster slot. The global keys
 * (collections set, room index) use their own tag, `{<prefix>}`.
 */

/** Default key prefix. */
export const DEFAULT_PREFIX = 'kpc';

/** Prefix of every key of one cluster: several clusters can share a Redis. */
export function clusterPrefix(clusterName: string): string {
  return `${DEFAULT_PREFIX}:${clusterName}`;
}

/** Keys of one index/collection pair; all of them hash to the same slot. */
export interface CollectionKeys {
  readonly index: string;
  readonly collection: string;
  /** The hash tag, without braces. */
  readonly tag: string;
  /** Hash roomId → JSON `{ filters }`. */
  readonly rooms: string;
  /** Integer bumped on every change of the collection. */
  readonly version: string;
  /** Set of node ids holding subscribers in the collection. */
  readonly nodes: string;
  /**
   * Hash nodeId → subscribers of that node over the whole collection. Not in
   * the original layout: it lets an unsubscription know in O(1) whether the
   * node still has subscribers in the collection, and lets multi-room scripts
   * check that the room list they were given is complete for a node.
   */
  readonly nodeTotals: string;
  /** Hash nodeId → subscriber count of one room. */
  room(roomId: string): string;
}

/**
 * The tag of a collection: base64url never contains `{` or `}`, and JSON of
 * the pair keeps ("a:b", "c") and ("a", "b:c") apart.
 */
export function collectionTag(index: string, collection: string): string {
  // Buffer's 'base64url' encoding needs Node 14.18 / 15.7: the same text by hand.
  return Buffer.from(JSON.stringify([index, collection]), 'utf8')
    .toString('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** Member of the global collections set / value of the room index. */
export function encodeCollectionRef(index: string, collection: string): string {
  return JSON.stringify([index, collection]);
}

/** Builds every key of the realtime state for one prefix. */
export class StateKeys {
  /** Set of JSON `[index, collection]` that ever had rooms. */
  readonly collections: string;
  /** Hash roomId → JSON `[index, collection]`. */
  readonly roomIndex: string;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    // A brace in the prefix would move the hash tag Redis Cluster uses.
    if (prefix.length === 0 || /[{}]/.test(prefix)) {
      throw new TypeError(`invalid realtime state prefix ${JSON.stringify(prefix)}: must be non-empty, without "{" or "}"`);
    }
    this.collections = `${prefix}:{${prefix}}:collections`;
    this.roomIndex = `${prefix}:{${prefix}}:roomIndex`;
  }

  /** Keys of one collection. */
  collection(index: string, collection: string): CollectionKeys {
    const tag = collectionTag(index, collection);
    const base = `${this.prefix}:{${tag}}`;
    return {
      index,
      collection,
      tag,
      rooms: `${base}:rooms`,
      version: `${base}:version`,
      nodes: `${base}:nodes`,
      nodeTotals: `${base}:nodeTotals`,
      room: (roomId: string) => `${base}:room:${roomId}`,
    };
  }

  /** Global keys, which share the `{<prefix>}` tag. */
  globalKeys(): string[] {
    return [this.collections, this.roomIndex];
  }
}
