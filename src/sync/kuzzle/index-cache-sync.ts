import type { KuzzleLike } from '../../plugin/kuzzle-types';
import { isName, isObject, type SyncChannel } from './channel';

export interface IndexCacheChange {
  scope: 'public' | 'private';
  index: string;
  collection?: string;
}

export function parseIndexCacheChange(body: unknown): IndexCacheChange | undefined {
  if (!isObject(body) || !isName(body.index)) return undefined;
  if (body.scope !== 'public' && body.scope !== 'private') return undefined;
  if (body.collection !== undefined && !isName(body.collection)) return undefined;
  return { scope: body.scope, index: body.index, collection: body.collection };
}

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
    'core:storage:cache:add:after': (payload: unknown) => this.forward('add', payload),
    'core:storage:cache:remove:after': (payload: unknown) => this.forward('remove', payload),
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

  constructor(private readonly channel: SyncChannel, private readonly kuzzle: KuzzleLike) {
    channel.on('index:add', parseIndexCacheChange, (change) => this.apply('add', change));
    channel.on('index:remove', parseIndexCacheChange, (change) => this.apply('remove', change));
    channel.onQuery('index:snapshot', () => this.snapshot());
  }

  /** This node's public index cache, for a peer catching up. */
  private async snapshot(): Promise<{ indexes: Record<string, string[]> }> {
    const indexes: Record<string, string[]> = {};
    for (const index of (await this.kuzzle.ask('core:storage:public:index:list')) as string[]) {
      indexes[index] = (await this.kuzzle.ask('core:storage:public:collection:list', index)) as string[];
    }
    return { indexes };
  }

  /**
   * Kuzzle filled this node's cache from Elasticsearch before the node joined
   * (or while it was cut off): indexes and collections created meanwhile are
   * learned from a peer's cache.
   */
  async catchUp(): Promise<void> {
    const snapshot = parseIndexSnapshot(await this.channel.query('index:snapshot', {}));
    if (!snapshot) return;
    for (const [index, collections] of Object.entries(snapshot)) {
      await this.kuzzle.ask('core:storage:public:cache:add', index);
      for (const collection of collections) await this.kuzzle.ask('core:storage:public:cache:add', index, collection);
    }
  }

  private forward(kind: 'add' | 'remove', payload: unknown): Promise<void> {
    const change = parseIndexCacheChange(payload);
    if (!change) return Promise.resolve();
    return this.channel.send(`index:${kind}`, change);
  }

  private async apply(kind: 'add' | 'remove', { scope, index, collection }: IndexCacheChange): Promise<void> {
    await this.kuzzle.ask(`core:storage:${scope}:cache:${kind}`, index, collection);
  }
}

/** A peer's public index cache: index → collections. */
export function parseIndexSnapshot(body: unknown): Record<string, string[]> | undefined {
  const indexes = isObject(body) ? body.indexes : undefined;
  if (!isObject(indexes)) return undefined;
  const snapshot: Record<string, string[]> = {};
  for (const [index, collections] of Object.entries(indexes)) {
    if (!isName(index) || !Array.isArray(collections) || !collections.every(isName)) return undefined;
    snapshot[index] = collections;
  }
  return snapshot;
}
