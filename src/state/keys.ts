import { RecentMap } from '../util/recent-map';

/** Collections whose keys are kept built (see {@link StateKeys.collection}). */
const KEPT_COLLECTIONS = 10_000;

/**
 * Every Redis key of the plugin, built here only.
 *
 * Every key of one collection shares one hash tag, so that a Lua script
 * touching a collection stays in a single Redis Cluster slot. Global keys
 * (the collections set, the room index, who wrote where) share the tag
 * `{<prefix>}`; node cards and the epoch share `{<prefix>:nodes}`; state kept
 * for Kuzzle-wide sync shares `{<prefix>:kuzzle}`.
 */

/** Prefix of every key of one cluster: several clusters can share a Redis. */
export function clusterPrefix(clusterName: string): string {
  return `kpc:${clusterName}`;
}

/** Keys of one index/collection pair; all of them hash to the same slot. */
export interface CollectionKeys {
  readonly index: string;
  readonly collection: string;
  /** JSON `[index, collection]`: how global keys refer to the collection. */
  readonly ref: string;
  /** Hash roomId → JSON `{ filters }`. */
  readonly rooms: string;
  /** Hash roomId → cluster-wide subscriber count. */
  readonly counts: string;
  /** Hash owner → that owner's subscribers over the whole collection. */
  readonly owners: string;
  /** Hash roomId → subscribers of one owner (a node incarnation) in the room. */
  ownerRooms(owner: string): string;
  /** String: the token and reply of one owner's last subscriptions' script here (expires; see adjustSubscribers). */
  lastBatch(owner: string): string;
}

/** base64url without padding, written out: Node 12 has no 'base64url' encoding. */
function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The tag of a collection: base64url never contains `{` or `}`, and JSON of
 * the pair keeps ("a:b", "c") and ("a", "b:c") apart.
 */
export function collectionTag(index: string, collection: string): string {
  return base64url(JSON.stringify([index, collection]));
}

/** Member of the global sets / value of the room index. */
export function encodeCollectionRef(index: string, collection: string): string {
  return JSON.stringify([index, collection]);
}

/** Builds every key for one prefix. */
export class StateKeys {
  /** Set of collection refs that have rooms (a stale member is harmless). */
  readonly collections: string;
  /** Hash roomId → collection ref (a stale entry is harmless: the collection is checked). */
  readonly roomIndex: string;
  /** Set of every owner that wrote subscribers: how ghosts are found. */
  readonly allOwners: string;
  /** Hash node id → JSON card. */
  readonly cards: string;
  /** Sorted set node id → expiry of its card (epoch ms, its writer's clock), for nodes of earlier releases. */
  readonly cardExpiry: string;
  /** Prefix of the alive keys: one per live card, expired by Redis (see RedisCardStore). */
  private readonly cardAlivePrefix: string;
  /** Where the keys of the `{<prefix>:nodes}` slot start. */
  private readonly nodesSlot: string;
  /** Counter behind incarnations. */
  readonly incarnations: string;
  /** Random token written once: when it is gone or changed, Redis lost the cluster's state. */
  readonly epoch: string;
  /**
   * Keys of the collections used lately: every subscription and
   * unsubscription needs its collection's keys, and building them (JSON,
   * base64, five strings) showed in a CPU profile of unsubscriptions.
   * Bounded: collection names come from clients.
   */
  private readonly built = new RecentMap<string, CollectionKeys>(KEPT_COLLECTIONS);

  constructor(readonly prefix: string) {
    // A brace in the prefix would move the hash tag Redis Cluster uses.
    if (prefix.length === 0 || /[{}]/.test(prefix)) {
      throw new TypeError(`invalid key prefix ${JSON.stringify(prefix)}: must be non-empty, without "{" or "}"`);
    }
    const global = `${prefix}:{${prefix}}`;
    this.collections = `${global}:collections`;
    this.roomIndex = `${global}:roomIndex`;
    this.allOwners = `${global}:owners`;
    const nodes = `${prefix}:{${prefix}:nodes}`;
    this.nodesSlot = nodes;
    this.cards = `${nodes}:cards`;
    this.cardExpiry = `${nodes}:expiry`;
    this.cardAlivePrefix = `${nodes}:alive:`;
    this.incarnations = `${nodes}:incarnations`;
    this.epoch = `${nodes}:epoch`;
  }

  /** A value one node writes to be read by another client (see StateMark), in the cards' slot. */
  mark(nodeId: string): string {
    return `${this.nodesSlot}:mark:${nodeId}`;
  }

  /** The key whose existence says a node's card is live (in the cards' slot). */
  cardAlive(nodeId: string): string {
    return this.cardAlivePrefix + nodeId;
  }

  /** Set of the collection refs where one owner has subscribers (a stale member is harmless). */
  ownerCollections(owner: string): string {
    return `${this.prefix}:{${this.prefix}}:ownerCollections:${owner}`;
  }

  /** Hash of JSON records kept for Kuzzle-wide sync (e.g. "strategies"). */
  records(name: string): string {
    return `${this.prefix}:{${this.prefix}:kuzzle}:${name}`;
  }

  /** Keys of one collection. */
  collection(index: string, collection: string): CollectionKeys {
    // The index's length keeps ("a:b", "c") and ("a", "b:c") apart.
    const id = `${index.length}:${index}:${collection}`;
    let keys = this.built.get(id);
    if (!keys) this.built.set(id, (keys = this.buildCollection(index, collection)));
    return keys;
  }

  private buildCollection(index: string, collection: string): CollectionKeys {
    const base = `${this.prefix}:{${collectionTag(index, collection)}}`;
    return {
      index,
      collection,
      ref: encodeCollectionRef(index, collection),
      rooms: `${base}:rooms`,
      counts: `${base}:counts`,
      owners: `${base}:owners`,
      ownerRooms: (owner: string) => `${base}:owner:${owner}`,
      lastBatch: (owner: string) => `${base}:batch:${owner}`,
    };
  }
}
