import { describeError } from '../../util/describe-error';
import type { ClusterNode } from '../../cluster/cluster-node';
import type { KuzzleStateInternals } from '../../plugin/kuzzle-types';
import { isName, isObject, requestInput, type SyncChannel } from './channel';

/** A suffix becomes part of a folder name: no separators, no `..`. */
const SAFE_SUFFIX = /^[\w-][\w.-]{0,99}$/;

export function parseDumpRequest(body: unknown): { suffix: string } | undefined {
  return isObject(body) && isName(body.suffix) && SAFE_SUFFIX.test(body.suffix) && !body.suffix.includes('..')
    ? { suffix: body.suffix }
    : undefined;
}

/**
 * Cluster-wide admin actions:
 * - dump: every node dumps. Peers append their node id to the suffix: nodes
 *   sharing a working directory would otherwise collide on the same
 *   `<date>-<suffix>` folder, and it tells the dumps apart.
 * - shutdown: every node shuts down through `kuzzle.shutdown()`, so each one
 *   runs its own `kuzzle:shutdown` hook and leaves the cluster cleanly
 *   (rather than being found dead by heartbeat timeout). The order is sent
 *   from the `admin:beforeShutdown` pipe: by `admin:afterShutdown` this node
 *   has already started leaving and its transport may be closed.
 * - resetCache: flushing Kuzzle's internal cache (or memoryStorage, when it
 *   shares the Redis database) also erases the cluster's own keys. Every node
 *   then writes its live state back (ClusterNode.reset), and the runtime
 *   state kept by this module is written back by `afterReset`.
 */
export class AdminSync {
  readonly hooks: Record<string, (request: unknown) => Promise<void>> = {
    'admin:afterDump': (request) => this.dumped(request),
    'admin:afterResetCache': () => this.cacheReset(),
  };
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    'admin:beforeShutdown': async (request) => {
      await this.channel.publish('admin:shutdown', {});
      return request;
    },
  };

  constructor(
    private readonly channel: SyncChannel,
    private readonly node: ClusterNode,
    private readonly kuzzle: KuzzleStateInternals,
    private readonly afterReset: () => Promise<void>,
  ) {
    channel.on('admin:dump', parseDumpRequest, ({ suffix }) => this.dump(`${suffix}-${node.id}`));
    channel.on('admin:shutdown', (body) => (isObject(body) ? body : undefined), () => this.shutdown());
  }

  private dumped(request: unknown): Promise<void> {
    const suffix = requestInput(request).args.suffix;
    // Kuzzle's default suffix when the request names none.
    return this.channel.publish('admin:dump', parseDumpRequest({ suffix }) ?? { suffix: 'manual-api-action' });
  }

  private async dump(suffix: string): Promise<void> {
    if (!this.kuzzle.dump) throw new Error('this Kuzzle has no dump()');
    await this.kuzzle.dump(suffix);
  }

  private async shutdown(): Promise<void> {
    this.channel.log('warn', '[cluster] cluster-wide shutdown requested by a peer');
    if (!this.kuzzle.shutdown) throw new Error('this Kuzzle has no shutdown()');
    await this.kuzzle.shutdown();
  }

  private async cacheReset(): Promise<void> {
    try {
      const { nodes } = await this.node.reset();
      const failed = nodes.filter((entry) => entry.error);
      if (failed.length > 0) this.channel.log('warn', `[cluster] after resetCache, ${failed.length} node(s) could not write their state back`);
      await this.afterReset();
    } catch (error) {
      this.channel.log('error', `[cluster] could not restore the cluster state after resetCache: ${describeError(error)}`);
    }
  }
}
