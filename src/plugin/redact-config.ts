import cloneDeep from 'lodash/cloneDeep';

/** What a secret is replaced with in what Kuzzle's API shows. */
export const HIDDEN = '[hidden by the cluster plugin]';

/** Fields of a Redis connection's options that are secrets (ioredis' names). */
const REDIS_SECRETS = ['password', 'sentinelPassword'];
const TLS_SECRETS = ['key', 'passphrase', 'pfx'];

type Tree = Record<string, unknown>;

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

function hide(tree: unknown, keys: readonly string[]): void {
  if (!isTree(tree)) return;
  for (const key of keys) if (tree[key] !== undefined) tree[key] = HIDDEN;
}

/** A Redis URL with its password hidden; a string that is not a URL is hidden whole if it may hold one. */
function withoutPassword(address: string): string {
  try {
    const url = new URL(address);
    if (url.password !== '') url.password = 'hidden';
    return url.toString();
  } catch {
    return address.includes('@') ? HIDDEN : address;
  }
}

/** Hides the secrets of ioredis options: passwords and TLS private material (the Sentinels' too). */
function hideRedisOptions(options: unknown): void {
  if (!isTree(options)) return;
  hide(options, REDIS_SECRETS);
  hide(options.tls, TLS_SECRETS);
  hide(options.sentinelTLS, TLS_SECRETS);
}

/**
 * Hides the secrets of Redis settings shaped like Kuzzle's
 * `services.internalCache`; `node` and `nodes[]` too, which Kuzzle and
 * ioredis take connection options from (a password among them).
 */
function hideRedisSettings(settings: unknown): void {
  if (!isTree(settings)) return;
  hideRedisOptions(settings.options);
  hideRedisOptions(settings.node);
  if (Array.isArray(settings.nodes)) {
    settings.nodes.forEach((node: unknown, i: number, nodes: unknown[]) => {
      // ioredis also takes "redis://user:password@host:port" there.
      if (typeof node === 'string') nodes[i] = withoutPassword(node);
      else hideRedisOptions(node);
    });
  }
  if (isTree(settings.clusterOptions)) hideRedisOptions(settings.clusterOptions.redisOptions);
}

/**
 * A copy of Kuzzle's configuration, as `server:getConfig` answers it, with
 * the secrets this plugin uses hidden: the CURVE secret key, and the
 * passwords and TLS keys of the Redis it connects to (its own
 * `plugins.cluster.redis`, or Kuzzle's `services.internalCache`, and
 * `services.memoryStorage`, which may share it). Kuzzle's own object is
 * never changed.
 */
export function redactConfig(config: unknown): unknown {
  if (!isTree(config)) return config;
  const copy = cloneDeep(config);
  const plugins = copy.plugins;
  const cluster = isTree(plugins) ? plugins.cluster : undefined;
  if (isTree(cluster)) {
    hide(cluster.curve, ['secretKey']);
    // A curve given in a wrong shape (a string) may still be the secret.
    if (typeof cluster.curve === 'string') cluster.curve = HIDDEN;
    hideRedisSettings(cluster.redis);
  }
  const services = copy.services;
  if (isTree(services)) {
    hideRedisSettings(services.internalCache);
    hideRedisSettings(services.memoryStorage);
  }
  return copy;
}
