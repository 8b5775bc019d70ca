import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/options';

/** Connection settings, shaped like Kuzzle's `services.internalCache` config. */
export type RedisConnectionOptions = RedisSettings;

/** Defaults: a bounded retry count so that commands fail instead of queuing forever while Redis is away. */
const DEFAULT_REDIS_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 3,
  enableReadyCheck: true,
};

/**
 * Defaults of a standalone client, on top of the above: commands issued in
 * one turn of the event loop written to the socket together. Under a burst
 * of subscriptions, one write per command was a quarter of a node's CPU
 * (profiled), in the system calls alone. Not for a cluster (see
 * {@link DEFAULT_CLUSTER_OPTIONS}).
 */
const DEFAULT_STANDALONE_OPTIONS: RedisOptions = { ...DEFAULT_REDIS_OPTIONS, enableAutoPipelining: true };

/**
 * Defaults of a Redis Cluster client (the user's `clusterOptions` win).
 * ioredis' own retries stay short, about a second in all, and the plugin
 * retries on top of them with a backoff bounded by `timers.redisRetry`
 * (see RedisRetry): a failover lasts longer than ioredis would wait.
 * - `enableOfflineQueue: false`: while the client has no connection a
 *   command fails at once instead of waiting without a bound; the plugin's
 *   retry then waits, bounded, and the outage shows in status.
 * - `scaleReads: 'master'`: counts are read where they are written; a
 *   replica may lag behind.
 * - `retryDelayOnFailover`, `retryDelayOnClusterDown`, `retryDelayOnTryAgain`:
 *   200 ms between two tries of one command after a lost connection, a
 *   CLUSTERDOWN (no master for a slot yet) or a TRYAGAIN, refreshing the
 *   slot map each time, for `maxRedirections` (16) tries at most.
 * - no `enableAutoPipelining` (unlike a standalone server): ioredis batches
 *   per node, and a batch answered MOVED during a failover fails its
 *   commands instead of following the redirection (ioredis issue #2075; the
 *   replica failover test saw it).
 */
export const DEFAULT_CLUSTER_OPTIONS: ClusterOptions = {
  enableReadyCheck: true,
  enableAutoPipelining: false,
  enableOfflineQueue: false,
  scaleReads: 'master',
  maxRedirections: 16,
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  retryDelayOnTryAgain: 200,
};

/** "host:port" of every seed node, for messages: never the credentials. */
export function describeRedisTarget(connection: RedisConnectionOptions): string {
  if (connection.nodes && connection.nodes.length > 0) {
    return `Redis Cluster ${connection.nodes.map((node) => `${node.host}:${node.port}`).join(', ')}`;
  }
  const node = connection.node ?? { host: '127.0.0.1', port: 6379 };
  return `Redis ${node.host}:${node.port}`;
}

/**
 * Creates an ioredis client for a standalone server or a cluster. Connection
 * errors are logged through `log` (ioredis keeps reconnecting) rather than
 * left unhandled, which would crash the process.
 */
export function createRedisClient(
  connection: RedisConnectionOptions,
  log: (message: string) => void = (message) => console.error(message),
): Redis | Cluster {
  // The user's config is passed through to ioredis as-is; ioredis validates it.
  const userOptions = (connection.options ?? {}) as RedisOptions;
  let client: Redis | Cluster;
  if (connection.nodes && connection.nodes.length > 0) {
    const redisOptions: RedisOptions = { ...DEFAULT_REDIS_OPTIONS, ...userOptions };
    const clusterOptions = { ...DEFAULT_CLUSTER_OPTIONS, redisOptions, ...(connection.clusterOptions ?? {}) } as ClusterOptions;
    client = new Cluster(connection.nodes, clusterOptions);
  } else {
    const node = connection.node ?? { host: '127.0.0.1', port: 6379 };
    client = new Redis({ host: node.host, port: node.port, db: connection.database ?? 0, ...DEFAULT_STANDALONE_OPTIONS, ...userOptions });
  }
  client.on('error', (error: unknown) => {
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
  });
  return client;
}
