import { describeError } from '../../util/describe-error';
import type { ClusterNode } from '../../cluster/cluster-node';
import { clusterPrefix } from '../../state/keys';
import type { KuzzleStateInternals } from '../../plugin/kuzzle-types';
import { isName, isObject, type SyncChannel } from './channel';

export interface StrategyChange {
  name: string;
  pluginName: string;
  /** The plain description given to `context.accessors.strategies.add` (method names, config). */
  strategy?: Record<string, unknown>;
}

export function parseStrategyChange(body: unknown): StrategyChange | undefined {
  if (!isObject(body) || !isName(body.name) || !isName(body.pluginName)) return undefined;
  if (body.strategy !== undefined && !isObject(body.strategy)) return undefined;
  return { name: body.name, pluginName: body.pluginName, strategy: body.strategy };
}

/** Strategies that come with Kuzzle itself: never removed by the cluster. */
const PROTECTED = new Set(['local']);

/**
 * Authentication strategies a plugin adds or removes at run time
 * (`context.accessors.strategies.add/remove`, which fire the
 * `core:auth:strategyAdded|Removed` pipes). A strategy is a plain description
 * naming methods of its plugin, so it can only be re-registered on a node
 * where that plugin is loaded too; elsewhere it is skipped with a warning.
 * The list lives in Redis as well, so a node that (re)starts later applies
 * it in `start()`.
 */
export class StrategySync {
  readonly pipes: Record<string, (payload: unknown) => Promise<unknown>> = {
    'core:auth:strategyAdded': async (payload) => {
      const change = parseStrategyChange(payload);
      if (change?.strategy) await this.added(change);
      return payload;
    },
    'core:auth:strategyRemoved': async (payload) => {
      const change = parseStrategyChange(payload);
      if (change) await this.removed(change);
      return payload;
    },
  };
  private readonly key: string;
  /** Runtime-added strategies this node knows of, as last stored or received. */
  private runtime: StrategyChange[] = [];

  constructor(private readonly channel: SyncChannel, private readonly node: ClusterNode, private readonly kuzzle: KuzzleStateInternals) {
    this.key = `${clusterPrefix(node.options.clusterName)}:kuzzle:strategies`;
    channel.on('strategy:add', parseStrategyChange, (change) => this.register(change));
    channel.on('strategy:remove', parseStrategyChange, (change) => this.unregister(change));
  }

  /** Applies the strategies other nodes added while this one was away. */
  async start(): Promise<void> {
    for (const change of await this.stored()) {
      // One strategy Kuzzle refuses must not keep the others out.
      try {
        this.register(change);
      } catch (error) {
        this.channel.log('error', `[cluster] strategy "${change.name}" could not be registered: ${describeError(error)}`);
      }
    }
  }

  /** Writes this node's runtime strategies back after Redis lost them (admin:resetCache). */
  async persistAgain(known: StrategyChange[] = this.runtime): Promise<void> {
    for (const change of known) await this.node.redis.hset(this.key, change.name, JSON.stringify(change));
  }

  private async added(change: StrategyChange): Promise<void> {
    this.remember(change);
    await this.node.redis.hset(this.key, change.name, JSON.stringify(change));
    await this.channel.publish('strategy:add', change);
  }

  private async removed(change: StrategyChange): Promise<void> {
    this.forget(change.name);
    await this.node.redis.hdel(this.key, change.name);
    await this.channel.publish('strategy:remove', change);
  }

  private async stored(): Promise<StrategyChange[]> {
    const entries = await this.node.redis.hgetall(this.key);
    const changes: StrategyChange[] = [];
    for (const json of Object.values(entries)) {
      try {
        const change = parseStrategyChange(JSON.parse(json));
        if (change?.strategy) changes.push(change);
      } catch {
        // A corrupted entry is skipped rather than blocking the start.
      }
    }
    return changes;
  }

  private remember(change: StrategyChange): void {
    this.forget(change.name);
    this.runtime.push(change);
  }

  private forget(name: string): void {
    this.runtime = this.runtime.filter((entry) => entry.name !== name);
  }

  private register(change: StrategyChange): void {
    const manager = this.kuzzle.pluginsManager;
    if (!manager || !change.strategy || PROTECTED.has(change.name)) return;
    const owner = change.pluginName.toLowerCase();
    const loaded = manager.plugins.some((plugin) => plugin.name === owner) || manager.application?.name === owner;
    if (!loaded) {
      this.channel.log('warn', `[cluster] strategy "${change.name}" skipped: plugin "${change.pluginName}" is not loaded on this node`);
      return;
    }
    // registerStrategy does not fire core:auth:strategyAdded: no echo.
    manager.registerStrategy(change.pluginName, change.name, change.strategy);
    this.remember(change);
  }

  private unregister(change: StrategyChange): void {
    this.forget(change.name);
    const manager = this.kuzzle.pluginsManager;
    if (!manager || PROTECTED.has(change.name)) return;
    const owner = manager.strategies[change.name]?.owner;
    if (owner !== change.pluginName.toLowerCase()) return;
    manager.unregisterStrategy(owner, change.name);
  }
}
