import { cloneDeep } from 'lodash';
import { ConfigError } from './errors';

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

/** Timers, in milliseconds. */
export interface ClusterTimers {
  /** Interval between two heartbeats broadcast by a node. */
  heartbeat: number;
  /** A peer not heard from for this long is evicted. */
  heartbeatTimeout: number;
  /** How long a joining node waits for every peer found in Redis to answer. */
  discoverTimeout: number;
  /** Delay between two join attempts while fewer than `minimumNodes` answer. */
  joinAttemptInterval: number;
  /** How long a node waits for peers to acknowledge a new subscription. */
  waitForMissingRooms: number;
  /** Upper bound of a graceful leave during shutdown. */
  leaveTimeout: number;
}

/** The plugin's options (`plugins.cluster` in .kuzzlerc). */
export interface ClusterOptions {
  bindings: { router: string; pub: string };
  minimumNodes: number;
  retryJoin: number;
  clusterName: string;
  timers: ClusterTimers;
  redis?: RedisSettings;
}

/** Defaults; README documents each one. */
export const DEFAULT_OPTIONS: ClusterOptions = {
  bindings: { router: 'tcp://[_site_:ipv4]:7510', pub: 'tcp://[_site_:ipv4]:7511' },
  minimumNodes: 1,
  retryJoin: 30,
  clusterName: 'kuzzle',
  timers: {
    heartbeat: 500,
    heartbeatTimeout: 2500,
    discoverTimeout: 3000,
    joinAttemptInterval: 1000,
    waitForMissingRooms: 2000,
    leaveTimeout: 3000,
  },
};

/** Keys Kuzzle itself puts in every plugin's configuration. */
const KUZZLE_KEYS = new Set(['privileged', 'initTimeout', 'pipeWarnTime', 'pipeTimeout']);
const DEPRECATED_TIMERS: Record<string, keyof ClusterTimers> = { joinAttemptIntervall: 'joinAttemptInterval' };

type Warn = (message: string) => void;

/**
 * Merges the user's options over the defaults (setting one timer keeps the
 * others), validates every value and warns on keys it does not know.
 */
export function parseOptions(raw: unknown, warn: Warn = () => undefined): ClusterOptions {
  const input = raw === undefined || raw === null ? {} : asObject('plugins.cluster', raw);
  const options: ClusterOptions = cloneDeep(DEFAULT_OPTIONS);
  for (const [key, value] of Object.entries(input)) {
    switch (key) {
      case 'bindings':
        options.bindings = parseBindings(value, warn);
        break;
      case 'minimumNodes':
        options.minimumNodes = positiveInteger(key, value, 1);
        break;
      case 'retryJoin':
        options.retryJoin = positiveInteger(key, value, 0);
        break;
      case 'clusterName':
        options.clusterName = nonEmptyString(key, value);
        break;
      case 'timers':
        options.timers = parseTimers(value, warn);
        break;
      case 'redis':
        options.redis = parseRedis(value);
        break;
      default:
        if (!KUZZLE_KEYS.has(key)) warn(`[cluster] unknown configuration key "${key}" ignored`);
    }
  }
  if (options.timers.heartbeatTimeout <= options.timers.heartbeat) {
    throw new ConfigError('timers.heartbeatTimeout', 'must be greater than timers.heartbeat');
  }
  return options;
}

function parseBindings(value: unknown, warn: Warn): ClusterOptions['bindings'] {
  const input = asObject('bindings', value);
  const bindings = { ...DEFAULT_OPTIONS.bindings };
  for (const [key, binding] of Object.entries(input)) {
    if (key !== 'router' && key !== 'pub') {
      warn(`[cluster] unknown configuration key "bindings.${key}" ignored`);
      continue;
    }
    bindings[key] = nonEmptyString(`bindings.${key}`, binding);
  }
  return bindings;
}

function parseTimers(value: unknown, warn: Warn): ClusterTimers {
  const input = asObject('timers', value);
  const timers = { ...DEFAULT_OPTIONS.timers };
  for (const [rawKey, timer] of Object.entries(input)) {
    const renamed = DEPRECATED_TIMERS[rawKey];
    if (renamed) warn(`[cluster] "timers.${rawKey}" is deprecated, use "timers.${renamed}"`);
    const key = renamed ?? rawKey;
    if (!(key in timers)) {
      warn(`[cluster] unknown configuration key "timers.${rawKey}" ignored`);
      continue;
    }
    timers[key as keyof ClusterTimers] = positiveInteger(`timers.${rawKey}`, timer, 1);
  }
  return timers;
}

function parseRedis(value: unknown): RedisSettings {
  const input = asObject('redis', value);
  const settings: RedisSettings = {};
  if (input.node !== undefined) settings.node = hostPort('redis.node', input.node);
  if (input.nodes !== undefined) {
    if (!Array.isArray(input.nodes) || input.nodes.length === 0) {
      throw new ConfigError('redis.nodes', 'must be a non-empty array of { host, port }');
    }
    settings.nodes = input.nodes.map((node, i) => hostPort(`redis.nodes[${i}]`, node));
  }
  if (!settings.node && !settings.nodes) throw new ConfigError('redis', 'needs "node" or "nodes"');
  if (input.database !== undefined) settings.database = positiveInteger('redis.database', input.database, 0);
  if (input.options !== undefined) settings.options = asObject('redis.options', input.options);
  if (input.clusterOptions !== undefined) settings.clusterOptions = asObject('redis.clusterOptions', input.clusterOptions);
  return settings;
}

function hostPort(key: string, value: unknown): { host: string; port: number } {
  const input = asObject(key, value);
  return { host: nonEmptyString(`${key}.host`, input.host), port: positiveInteger(`${key}.port`, input.port, 1) };
}

function asObject(key: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(key, `expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function nonEmptyString(key: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(key, `expected a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positiveInteger(key: string, value: unknown, min: number): number {
  // Environment variables reach Kuzzle's config as strings.
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min) {
    throw new ConfigError(key, `expected an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return number;
}
