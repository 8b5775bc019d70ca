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
  readonly hooks = {
    'core:storage:cache:add:after': (payload: unknown) => this.forward('add', payload),
    'core:storage:cache:remove:after': (payload: unknown) => this.forward('remove', payload),
  };

  constructor(private readonly channel: SyncChannel, private readonly kuzzle: KuzzleLike) {
    channel.on('index:add', parseIndexCacheChange, (change) => this.apply('add', change));
    channel.on('index:remove', parseIndexCacheChange, (change) => this.apply('remove', change));
  }

  private forward(kind: 'add' | 'remove', payload: unknown): Promise<void> {
    const change = parseIndexCacheChange(payload);
    if (!change) return Promise.resolve();
    return this.channel.publish(`index:${kind}`, change);
  }

  private async apply(kind: 'add' | 'remove', { scope, index, collection }: IndexCacheChange): Promise<void> {
    await this.kuzzle.ask(`core:storage:${scope}:cache:${kind}`, index, collection);
  }
}
