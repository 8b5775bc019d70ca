import { describeError } from '../../util/describe-error';
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
  private readonly indexes: IndexCacheSync;
  private readonly reloadValidation: () => Promise<void>;
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
    this.indexes = indexes;
    const security = new SecuritySync(this.channel, kuzzle);
    this.reloadValidation = async () => {
      if (!internals.validation) throw new Error('this Kuzzle has no validation module');
      await internals.validation.curateSpecification();
    };
    const validation = new ValidationSync(this.channel, { reload: this.reloadValidation });
    const tokens = new TokenSync(this.channel, internals);
    this.strategies = new StrategySync(this.channel, node, internals);
    const admin = new AdminSync(this.channel, node, internals, () => this.strategies.persistAgain());
    this.appEvents = new AppEvents(this.channel, kuzzle);

    this.hooks = mergeHandlers('hook', indexes.hooks, admin.hooks);
    this.pipes = mergeHandlers('pipe', indexes.pipes, security.pipes, validation.pipes, tokens.pipes, admin.pipes, this.strategies.pipes);
    node.onRejoined(() => this.catchUp());
  }

  /** Loads the shared state a node must apply when it joins. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.catchUp();
    return this.started;
  }

  /**
   * What this node may have missed before it joined, or while it was cut
   * off: runtime strategies (from Redis), indexes created meanwhile (from a
   * peer), and rights and specifications (reloaded from Elasticsearch).
   */
  private async catchUp(): Promise<void> {
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['auth strategies', () => this.strategies.start()],
      ['index cache', () => this.indexes.catchUp()],
      ['roles', () => this.kuzzle.ask('core:security:role:invalidate')],
      ['profiles', () => this.kuzzle.ask('core:security:profile:invalidate')],
      ['validation specifications', () => this.reloadValidation()],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        this.channel.log('error', `[cluster] could not catch up on ${what}: ${describeError(error)}`);
      }
    }
  }
}
