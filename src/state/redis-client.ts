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
 * Creates an ioredis client for a standalone server or a cluster. Connection
 * errors are logged through `log` (ioredis keeps reconnecting) rather than
 * left unhandled, which would crash the process.
 */
export function createRedisClient(
  connection: RedisConnectionOptions,
  log: (message: string) => void = (message) => console.error(message),
): Redis | Cluster {
  // The user's config is passed through to ioredis as-is; ioredis validates it.
  const options = { ...DEFAULT_REDIS_OPTIONS, ...(connection.options ?? {}) } as RedisOptions;
  let client: Redis | Cluster;
  if (connection.nodes && connection.nodes.length > 0) {
    const clusterOptions = { enableReadyCheck: true, redisOptions: options, ...(connection.clusterOptions ?? {}) } as ClusterOptions;
    client = new Cluster(connection.nodes, clusterOptions);
  } else {
    const node = connection.node ?? { host: '127.0.0.1', port: 6379 };
    client = new Redis({ host: node.host, port: node.port, db: connection.database ?? 0, ...options });
  }
  client.on('error', (error: unknown) => {
    log(`[kuzzle-plugin-cluster] redis error: ${error instanceof Error ? error.message : String(error)}`);
  });
  return client;
}
