import cloneDeep from 'lodash/cloneDeep';
import { largestFragmentedMessage } from '../transport/fragments';
import { ConfigError } from './errors';
import { isLeaf, OPTION_SCHEMA, type Group, type OptionsOf } from './option-schema';
import { asObject } from './values';

/** The plugin's options (`plugins.cluster` in .kuzzlerc), as described by {@link OPTION_SCHEMA}. */
export type ClusterOptions = OptionsOf<typeof OPTION_SCHEMA>;
export type ClusterTimers = ClusterOptions['timers'];
export type { RedisSettings } from './redis-settings';

/** Keys Kuzzle itself puts in every plugin's configuration. */
const KUZZLE_KEYS = new Set(['privileged', 'initTimeout', 'pipeWarnTime', 'pipeTimeout']);

type Warn = (message: string) => void;

function defaultsOf(group: Group): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(group)) values[key] = isLeaf(node) ? cloneDeep(node.default) : defaultsOf(node);
  return values;
}

/** The defaults, derived from the schema. */
export const DEFAULT_OPTIONS = defaultsOf(OPTION_SCHEMA) as ClusterOptions;

/** Merges one configuration object over `target`, following `group`. */
function mergeGroup(path: string, group: Group, raw: Record<string, unknown>, target: Record<string, unknown>, warn: Warn): void {
  for (const [rawKey, value] of Object.entries(raw)) {
    const fullRawKey = path ? `${path}.${rawKey}` : rawKey;
    const aliasOf = Object.keys(group).find((name) => {
      const node = group[name];
      return node !== undefined && isLeaf(node) && (node.aliases ?? []).includes(rawKey);
    });
    if (aliasOf) warn(`"${fullRawKey}" is deprecated, use "${path ? `${path}.` : ''}${aliasOf}"`);
    const key = aliasOf ?? rawKey;
    const node = Object.prototype.hasOwnProperty.call(group, key) ? group[key] : undefined;
    if (node === undefined) {
      if (path !== '' || !KUZZLE_KEYS.has(key)) warn(`unknown configuration key "${fullRawKey}" ignored`);
      continue;
    }
    if (isLeaf(node)) {
      target[key] = node.parse(fullRawKey, value);
    } else {
      mergeGroup(fullRawKey, node, asObject(fullRawKey, value), target[key] as Record<string, unknown>, warn);
    }
  }
}

/**
 * Merges the user's options over the defaults (setting one timer keeps the
 * others), validates every value and warns on keys it does not know.
 *
 * @throws ConfigError naming the first bad key.
 */
export function parseOptions(raw: unknown, warn: Warn = () => undefined): ClusterOptions {
  const input = raw === undefined || raw === null ? {} : asObject('plugins.cluster', raw);
  const options = cloneDeep(DEFAULT_OPTIONS);
  mergeGroup('', OPTION_SCHEMA, input, options as unknown as Record<string, unknown>, warn);
  // Heartbeats come a heartbeat apart, from ticks that a busy event loop may
  // run late: a timeout just above one heartbeat evicts live peers (their
  // notifications lost meanwhile) at every pause.
  if (options.timers.heartbeatTimeout < 2 * options.timers.heartbeat) {
    throw new ConfigError('timers.heartbeatTimeout', 'must be at least twice timers.heartbeat');
  }
  if (options.timers.cardTtl <= options.timers.heartbeat) {
    throw new ConfigError('timers.cardTtl', 'must be greater than timers.heartbeat (the card is renewed every heartbeat)');
  }
  const carried = largestFragmentedMessage(options.maxFrameBytes);
  if (options.maxMessageBytes > carried) {
    throw new ConfigError('maxMessageBytes', `must be at most ${carried} with maxFrameBytes ${options.maxFrameBytes} (a message travels in at most 65,535 fragments)`);
  }
  return options;
}
