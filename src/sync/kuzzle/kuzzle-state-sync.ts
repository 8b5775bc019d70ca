import type { ClusterNode } from '../../cluster/cluster-node';
import type { KuzzleLike, KuzzleStateInternals, PluginContextLike } from '../../plugin/kuzzle-types';
import { mergeHandlers, type EventHandler } from '../../plugin/merge-handlers';
import { pluginLog } from '../../plugin/plugin-log';
import { AdminSync } from './admin-sync';
import { AppEvents } from './app-events';
import { SyncChannel } from './channel';
import { IndexCacheSync } from './index-cache-sync';
import { SecuritySync } from './security-sync';
import { StrategySync } from './strategy-sync';
import { TokenSync } from './token-sync';
import { ValidationSync } from './validation-sync';


/**
 * Keeps Kuzzle's own per-node state (index cache, security caches,
 * validation specs, token links, auth strategies) in step across nodes, makes
 * admin actions cluster-wide and answers `app.cluster.*`. Declares the hooks
 * and pipes it needs; the plugin glue merges them with the realtime ones.
 * Each concern lives in its own module; this class only wires them.
 */
export class KuzzleStateSync {
  readonly hooks: Record<string, EventHandler>;
  readonly pipes: Record<string, EventHandler>;
  readonly channel: SyncChannel;
  readonly appEvents: AppEvents;
  private readonly strategies: StrategySync;
  private started: Promise<void> | undefined;

  constructor(
    readonly node: ClusterNode,
    readonly kuzzle: KuzzleLike,
    readonly context: PluginContextLike,
  ) {
    const internals: KuzzleStateInternals = kuzzle as KuzzleLike & KuzzleStateInternals;
    const log = pluginLog(context);
    this.channel = new SyncChannel(node, log);
    const indexes = new IndexCacheSync(this.channel, kuzzle);
    const security = new SecuritySync(this.channel, kuzzle);
    const validation = new ValidationSync(this.channel, {
      reload: async () => {
        if (!internals.validation) throw new Error('this Kuzzle has no validation module');
        await internals.validation.curateSpecification();
      },
    });
    const tokens = new TokenSync(this.channel, internals);
    this.strategies = new StrategySync(this.channel, node, internals);
    const admin = new AdminSync(this.channel, node, internals, () => this.strategies.persistAgain());
    this.appEvents = new AppEvents(this.channel, kuzzle);

    this.hooks = mergeHandlers('hook', indexes.hooks, security.hooks, validation.hooks, tokens.hooks, admin.hooks);
    this.pipes = mergeHandlers('pipe', admin.pipes, this.strategies.pipes);
  }

  /** Loads the shared state a node must apply when it (re)joins. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.strategies.start().catch((error: Error) => {
      this.channel.log('error', `[cluster] could not apply the cluster's auth strategies: ${error.message}`);
    });
    return this.started;
  }
}
