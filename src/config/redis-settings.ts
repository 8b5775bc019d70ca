import { isObject } from '../util/guards';
import { ConfigError } from './errors';
import { asObject, integer, nonEmptyString } from './values';

/** Redis connection settings, the shape of Kuzzle's `services.internalCache`. */
export interface RedisSettings {
  /** A standalone server (used when `nodes` is absent). */
  node?: { host: string; port: number };
  /** Seed nodes of a Redis Cluster. */
  nodes?: Array<{ host: string; port: number }>;
  /** Database number (standalone only: a cluster has only database 0). */
  database?: number;
  /** ioredis options: password, tls, ... */
  options?: Record<string, unknown>;
  /** ioredis Cluster options (cluster mode only). */
  clusterOptions?: Record<string, unknown>;
}

function hostPort(key: string, value: unknown): { host: string; port: number } {
  const input = asObject(key, value);
  return { host: nonEmptyString(`${key}.host`, input.host), port: integer(`${key}.port`, input.port, 1, 65535) };
}

/**
 * ioredis' `keyPrefix` prefixes key arguments, not the key names the
 * plugin's Lua scripts build (a card's alive key, a collection's rooms):
 * the plugin would read and write two sets of keys. Refused rather than
 * half-applied.
 */
function refuseKeyPrefix(key: string, settings: RedisSettings, hint: string): void {
  // ioredis' Cluster also takes the prefix of the options it gives each node (clusterOptions.redisOptions).
  const nodeOptions = settings.clusterOptions?.redisOptions;
  const places = [
    ['options', settings.options],
    ['clusterOptions', settings.clusterOptions],
    ['clusterOptions.redisOptions', isObject(nodeOptions) ? nodeOptions : undefined],
  ] as const;
  for (const [where, options] of places) {
    if (options && options.keyPrefix !== undefined) {
      throw new ConfigError(`${key}.${where}.keyPrefix`, `the cluster plugin's Redis client cannot take a key prefix (its Lua scripts name keys the prefix would not reach)${hint}`);
    }
  }
}

/** Validates `plugins.cluster.redis`; ioredis options themselves are passed through as given. */
export function parseRedisSettings(key: string, value: unknown): RedisSettings {
  const input = asObject(key, value);
  const settings: RedisSettings = {};
  if (input.node !== undefined) settings.node = hostPort(`${key}.node`, input.node);
  if (input.nodes !== undefined) {
    if (!Array.isArray(input.nodes) || input.nodes.length === 0) {
      throw new ConfigError(`${key}.nodes`, 'must be a non-empty array of { host, port }');
    }
    settings.nodes = input.nodes.map((node, i) => hostPort(`${key}.nodes[${i}]`, node));
  }
  if (!settings.node && !settings.nodes) throw new ConfigError(key, 'needs "node" or "nodes"');
  if (input.database !== undefined) settings.database = integer(`${key}.database`, input.database, 0);
  if (input.options !== undefined) settings.options = asObject(`${key}.options`, input.options);
  if (input.clusterOptions !== undefined) settings.clusterOptions = asObject(`${key}.clusterOptions`, input.clusterOptions);
  refuseKeyPrefix(key, settings, ': the plugin keeps its keys under kpc:<clusterName>: already');
  return settings;
}

/** The Redis settings found in Kuzzle's `services.internalCache`, keeping only what the plugin uses. */
export function redisSettingsOf(internalCache: Record<string, unknown>): RedisSettings {
  const { node, nodes, database, options, clusterOptions } = internalCache as RedisSettings;
  const settings = { node, nodes, database, options, clusterOptions };
  refuseKeyPrefix('services.internalCache', settings, ': give the plugin its own settings in plugins.cluster.redis (the same server will do)');
  return settings;
}
