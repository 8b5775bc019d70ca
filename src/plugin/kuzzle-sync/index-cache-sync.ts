import type { Handlers } from '../../bus/message-spec';
import { LiveChanges } from '../../util/live-changes';
import type { KuzzleLike } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import { indexTable, parseIndexCacheChange, type IndexCacheChange, type KuzzleMessages } from './messages';

/** How long a catch-up keeps asking members for their index cache. */
const CATCH_UP_DEADLINE_MS = 10_000;
/**
 * How long a live change may take to reach every peer: the action that
 * made it answers once they acknowledged it, or once they timed out.
 */
const LIVE_CHANGE_REACH_MS = 10_000;
/** Live changes remembered at most. */
const MAX_LIVE_CHANGES = 10_000;

/**
 * Each node keeps its own index/collection cache and refuses an index it
 * does not know: an index created through one node must be known by all.
 * Kuzzle emits `core:storage:cache:add|remove:after` on a local change; peers
 * apply it with the `core:storage:<scope>:cache:add|remove` asks, which emit
 * nothing, so a change never echoes back.
 */
export class IndexCacheSync {
  /** Kuzzle emits cache changes as events: each is sent to the peers with acknowledgement… */
  readonly hooks = {
    'core:storage:cache:add:after': (payload: unknown) => this.forward('kuzzle:index:add', payload),
    'core:storage:cache:remove:after': (payload: unknown) => this.forward('kuzzle:index:remove', payload),
  };

  /** …and the API actions that cause them answer once every peer has applied them. */
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = Object.fromEntries(
    [
      'index:afterCreate',
      'index:afterDelete',
      'index:afterMDelete',
      'collection:afterCreate',
      'collection:afterUpdate',
      'collection:afterDelete',
      'admin:afterResetDatabase',
      'admin:afterLoadMappings',
    ].map((event) => [
      event,
      async (request: unknown) => {
        await this.channel.settled();
        return request;
      },
    ]),
  );

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:index:add' | 'kuzzle:index:remove' | 'kuzzle:index:snapshot'> = {
    'kuzzle:index:add': async (change) => {
      await this.apply('add', change);
      return {};
    },
    'kuzzle:index:remove': async (change) => {
      await this.apply('remove', change);
      return {};
    },
    'kuzzle:index:snapshot': () => this.snapshot(),
  };

  /**
   * Indexes and collections changed live here: a peer's snapshot and this
   * node's own are read at different times, and a change made during a
   * catch-up, or just before it and not yet applied by the peer asked,
   * would be judged from the older of the two (a new empty index forgotten,
   * a deleted one added back). The live change is the newer word: the
   * catch-up leaves those be.
   */
  private readonly liveChanges: LiveChanges;

  constructor(
    private readonly channel: Pick<KuzzleChannel, 'send' | 'settled' | 'ask'>,
    private readonly kuzzle: Pick<KuzzleLike, 'ask'>,
    /** Whether Kuzzle answers `core:storage:public:index:stats` (2.10+; see KuzzleIntegration). */
    private readonly indexStats: boolean,
    /** A monotonic clock (ms). */
    now?: () => number,
  ) {
    this.liveChanges = new LiveChanges(MAX_LIVE_CHANGES, now);
  }

  /** This node's public index cache, for a peer catching up. */
  private async snapshot(): Promise<{ indexes: Record<string, string[]> }> {
    const indexes = indexTable();
    for (const index of (await this.kuzzle.ask('core:storage:public:index:list')) as string[]) {
      indexes[index] = (await this.kuzzle.ask('core:storage:public:collection:list', index)) as string[];
    }
    return { indexes };
  }

  /**
   * Kuzzle filled this node's cache from Elasticsearch before the node joined
   * (or while it was cut off): indexes and collections created meanwhile are
   * learned from a peer's cache, and those deleted meanwhile are forgotten.
   * The peer asked may be behind (back from a partition itself): where
   * Elasticsearch can tell (a collection, and an index with collections:
   * its stats, read after the peer's answer, hold every creation the peer
   * knew of), it decides, and only a live change heard since that read
   * (racing this catch-up) outweighs it; a peer's stale word once brought a
   * deleted index back, which a write through this node then created again
   * in Elasticsearch, and a change heard before a cut-off counted as newer
   * than the peer's word. Where it cannot (an index without collections
   * does not show in its stats; Kuzzle 2.9 has no stats), the peer's word
   * does, unless the index changed live within LIVE_CHANGE_REACH_MS (the
   * peer may not have it yet). A collection that Elasticsearch holds only
   * as an alias made outside Kuzzle is learned at a node's start only, as
   * one Kuzzle learns it, and forgotten only when the peer lacks it too.
   */
  async catchUp(): Promise<void> {
    // A change this recent may not have reached the peer asked yet.
    const recent = this.liveChanges.now() - LIVE_CHANGE_REACH_MS;
    const snapshot = await this.channel.ask('kuzzle:index:snapshot', {}, CATCH_UP_DEADLINE_MS);
    if (!snapshot) return;
    const readAt = this.liveChanges.now();
    const stored = this.indexStats ? await this.storedCollections() : undefined;
    const mine = await this.snapshot();
    // An index changed live settles its collections too (deleted with it).
    const changedSince = (mark: number, index: string, collection?: string): boolean =>
      this.liveChanges.since(liveKey(index), mark) || (collection !== undefined && this.liveChanges.since(liveKey(index, collection), mark));
    const add = (index: string, collection?: string): Promise<unknown> => this.kuzzle.ask('core:storage:public:cache:add', index, collection);
    for (const [index, collections] of Object.entries(snapshot.indexes)) {
      const held = stored?.get(index);
      if (stored === undefined || (held === undefined && collections.length === 0)) {
        // Elasticsearch cannot tell: the peer's word.
        if (changedSince(recent, index)) continue;
        await add(index);
        for (const collection of collections) if (!changedSince(recent, index, collection)) await add(index, collection);
        continue;
      }
      // The peer lists collections Elasticsearch no longer has: deleted since the peer heard of them.
      if (held === undefined || changedSince(readAt, index)) continue;
      await add(index);
      for (const collection of collections) if (held.has(collection) && !changedSince(readAt, index, collection)) await add(index, collection);
    }
    // What this node knows but neither the peer nor Elasticsearch does was
    // deleted while this node was cut off. Without Elasticsearch's word
    // (Kuzzle 2.9) nothing is forgotten: a missing index answers the normal
    // not-found error from Elasticsearch, a wrongly forgotten one would
    // refuse valid requests.
    if (stored === undefined) return;
    for (const [index, collections] of Object.entries(mine.indexes)) {
      // Own entries only: an index may be named like an Object property ("constructor").
      const theirs = Object.prototype.hasOwnProperty.call(snapshot.indexes, index) ? snapshot.indexes[index] : undefined;
      const held = stored.get(index);
      if (theirs === undefined && held === undefined) {
        // A collection created live makes its index live too.
        const createdInside = collections.some((collection) => changedSince(recent, index, collection));
        if (!changedSince(recent, index) && !createdInside) await this.kuzzle.ask('core:storage:public:cache:remove', index);
        continue;
      }
      for (const collection of collections) {
        // Elasticsearch lacks it: gone, unless it is an alias made outside
        // Kuzzle (which its stats do not show, and no live change ever
        // announces); so the peer must lack it too, or this node must have
        // heard it created live (a peer behind keeps a deletion from it).
        const gone = !held?.has(collection) && (!theirs?.includes(collection) || this.liveChanges.heard(liveKey(index, collection)));
        if (gone && !changedSince(readAt, index, collection)) await this.kuzzle.ask('core:storage:public:cache:remove', index, collection);
      }
    }
  }

  /**
   * Indexes and collections Elasticsearch holds (its stats, not the cache).
   * An index without any collection does not show there, so it is kept only
   * if a peer knows it.
   */
  private async storedCollections(): Promise<Map<string, Set<string>>> {
    const stats = (await this.kuzzle.ask('core:storage:public:index:stats')) as { indexes?: Array<{ name: string; collections: Array<{ name: string }> }> };
    return new Map((stats.indexes ?? []).map((index) => [index.name, new Set(index.collections.map((c) => c.name))]));
  }

  private forward(type: 'kuzzle:index:add' | 'kuzzle:index:remove', payload: unknown): Promise<void> {
    const change = parseIndexCacheChange(payload);
    if (!change) return Promise.resolve();
    this.changedLive(change);
    return this.channel.send(type, change);
  }

  private async apply(kind: 'add' | 'remove', change: IndexCacheChange): Promise<void> {
    this.changedLive(change);
    await this.kuzzle.ask(`core:storage:${change.scope}:cache:${kind}`, change.index, change.collection);
  }

  private changedLive({ scope, index, collection }: IndexCacheChange): void {
    if (scope === 'public') this.liveChanges.note(liveKey(index, collection));
  }
}

/** An index, or a collection of it, as one key (no name holds a NUL). */
const liveKey = (index: string, collection?: string): string => (collection === undefined ? index : `${index}\u0000${collection}`);
