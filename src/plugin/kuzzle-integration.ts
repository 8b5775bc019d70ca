import type { KuzzleLike } from './kuzzle-types';

/**
 * Asks the plugin cannot work without: it delivers peers' notifications,
 * creates and drops local rooms and applies peers' cache changes through
 * them. Kuzzle 2.9 and 2.10 answer all of them; Kuzzle 2.4 has none (its
 * realtime engine is driven through `kuzzle.hotelClerk` and
 * `core:hotelClerk:*` pipes, its index cache emits `core:indexCache:*`).
 */
export const REQUIRED_ASKS = [
  'core:realtime:document:dispatch',
  'core:realtime:user:sendMessage',
  'core:realtime:room:create',
  'core:realtime:unsubscribe',
  // The plugin answers these three in front of Kuzzle's notifier (see change-capture), and keeps its lists in Kuzzle's cache.
  'core:realtime:document:notify',
  'core:realtime:document:mNotify',
  'core:realtime:publish',
  // And these three, behind realtime:count, list and join (see realtime-queries).
  'core:realtime:room:size:get',
  'core:realtime:list',
  'core:realtime:join',
  'core:cache:internal:mget',
  'core:cache:internal:store',
  'core:cache:internal:del',
  'core:storage:public:cache:add',
  'core:storage:public:cache:remove',
  'core:security:role:invalidate',
  'core:security:profile:invalidate',
  // Whether Kuzzle has a native "cluster" controller decides the plugin's controller name.
  'kuzzle:api:funnel:controller:isNative',
] as const;

/** Kuzzle 2.10's Elasticsearch index statistics; 2.9 has no such ask. */
const INDEX_STATS_ASK = 'core:storage:public:index:stats';

/** How the plugin plugs into the running Kuzzle, found at start-up. */
export interface KuzzleIntegration {
  /** One line for the start-up log. */
  readonly description: string;
  /**
   * Whether the index-cache catch-up can ask Elasticsearch which indexes
   * exist (2.10+): without it, an index a node knows and its peers do not
   * is kept rather than forgotten (it may have been deleted while the node
   * was cut off, or created while a peer was: keeping it is the safe side).
   */
  readonly indexStats: boolean;
}

/** What Kuzzle lacks for the plugin to run on it, in a sentence, or undefined. */
export function missingForPlugin(kuzzle: Pick<KuzzleLike, 'hasAskAnswerer'>, kuzzleVersion: string | undefined): string | undefined {
  const has = kuzzle.hasAskAnswerer?.bind(kuzzle);
  const missing = has ? REQUIRED_ASKS.filter((ask) => !has(ask)) : ['kuzzle.hasAskAnswerer', ...REQUIRED_ASKS];
  if (missing.length === 0) return undefined;
  return (
    `[cluster] Kuzzle ${kuzzleVersion ?? '(unknown version)'} lacks what this plugin needs: ${missing.join(', ')}. ` +
    'The plugin is tested on Kuzzle 2.9.1 and 2.10.4: upgrade Kuzzle to one of them (or to 2.11+, which has its own cluster, without this plugin).'
  );
}

/**
 * Finds how to integrate with this Kuzzle by asking it what it answers,
 * not by its version number (a patched or backported Kuzzle is judged by
 * what it does).
 * @throws Error when a required ask is missing: the plugin cannot run there.
 */
export function detectIntegration(kuzzle: Pick<KuzzleLike, 'hasAskAnswerer'>, kuzzleVersion: string | undefined): KuzzleIntegration {
  const missing = missingForPlugin(kuzzle, kuzzleVersion);
  if (missing) throw new Error(missing);
  const indexStats = kuzzle.hasAskAnswerer?.(INDEX_STATS_ASK) === true;
  const description = indexStats
    ? 'realtime and storage asks, index catch-up checked against Elasticsearch index stats'
    : `realtime and storage asks, index catch-up without Elasticsearch index stats (no ${INDEX_STATS_ASK}: indexes deleted while a node was cut off are kept on it)`;
  return { description: `kuzzle ${kuzzleVersion ?? '(unknown version)'}: using ${description}`, indexStats };
}
