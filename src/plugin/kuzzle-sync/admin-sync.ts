import type { Handlers } from '../../bus/message-spec';
import type { KuzzleStateInternals } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import { parseDumpRequest, type KuzzleMessages } from './messages';
import { requestInput } from './request-input';

/**
 * Cluster-wide admin actions:
 * - dump: every node dumps. Peers append their node id to the suffix: nodes
 *   sharing a working directory would otherwise collide on the same
 *   `<date>-<suffix>` folder, and it tells the dumps apart.
 * - shutdown: every node shuts down through `kuzzle.shutdown()`, so each one
 *   drains and leaves the cluster cleanly (rather than being found dead by
 *   heartbeat timeout). The order is sent from the `admin:beforeShutdown`
 *   pipe: by `admin:afterShutdown` this node has started leaving.
 * - resetCache: flushing Kuzzle's internal cache (or memoryStorage, when it
 *   shares the Redis database) also erases the cluster's own keys; the
 *   cluster's epoch check notices and every node writes its state back.
 */
export class AdminSync {
  readonly hooks: Record<string, (request: unknown) => Promise<void>> = {
    'admin:afterDump': (request) => this.dumped(request),
  };

  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    'admin:beforeShutdown': async (request) => {
      await this.channel.publish('kuzzle:admin:shutdown', {});
      return request;
    },
  };

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:admin:dump' | 'kuzzle:admin:shutdown'> = {
    'kuzzle:admin:dump': ({ suffix }) => this.dump(`${suffix}-${this.nodeId}`),
    'kuzzle:admin:shutdown': (_body, sender) => this.shutdown(sender.id),
  };

  constructor(
    private readonly channel: KuzzleChannel,
    private readonly nodeId: string,
    private readonly kuzzle: KuzzleStateInternals,
  ) {}

  private dumped(request: unknown): Promise<void> {
    const suffix = requestInput(request).args.suffix;
    // Kuzzle's default suffix when the request names none.
    return this.channel.publish('kuzzle:admin:dump', parseDumpRequest({ suffix }) ?? { suffix: 'manual-api-action' });
  }

  private async dump(suffix: string): Promise<void> {
    if (!this.kuzzle.dump) throw new Error('this Kuzzle has no dump()');
    await this.kuzzle.dump(suffix);
  }

  private async shutdown(from: string): Promise<void> {
    this.channel.log('warn', `cluster-wide shutdown requested by ${from}`);
    if (!this.kuzzle.shutdown) throw new Error('this Kuzzle has no shutdown()');
    await this.kuzzle.shutdown();
  }
}
