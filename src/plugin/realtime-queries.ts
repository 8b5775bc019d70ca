import type { KuzzleLike, KuzzleRequestLike, KuzzleUserLike } from './kuzzle-types';

/** The asks behind `realtime:count`, `realtime:list` and `realtime:join` (Kuzzle 2.9 and 2.10). */
export const QUERY_ASKS = ['core:realtime:room:size:get', 'core:realtime:list', 'core:realtime:join'] as const;

/** Kuzzle's own answers to {@link QUERY_ASKS}, which the plugin's stand in front of. */
export interface KuzzleRealtimeAnswers {
  roomSize(roomId: string): Promise<number>;
  list(user: KuzzleUserLike | null | undefined): Promise<unknown>;
  join(request: KuzzleRequestLike): Promise<unknown>;
}

/** The plugin's answers, given Kuzzle's own (see RealtimeGlue). */
export interface ClusterRealtimeAnswers {
  count(roomId: string, kuzzle: KuzzleRealtimeAnswers): Promise<number>;
  list(user: KuzzleUserLike | null | undefined, kuzzle: KuzzleRealtimeAnswers): Promise<unknown>;
  join(request: KuzzleRequestLike, kuzzle: KuzzleRealtimeAnswers): Promise<unknown>;
}

type Answerer = (...args: never[]) => unknown;

/**
 * Puts the plugin in front of Kuzzle's answers to `realtime:count`,
 * `realtime:list` and `realtime:join`, whoever asks: API clients, and the
 * embedded SDK of plugins and applications, whose requests run no API pipe
 * (pipes on `realtime:afterCount` and the like would leave them one node's
 * answers). Returns Kuzzle's own answers.
 *
 * @throws Error when this Kuzzle lacks one of {@link QUERY_ASKS} (checked at start with the other required asks).
 */
export function answerRealtimeQueries(kuzzle: KuzzleLike, cluster: ClusterRealtimeAnswers): KuzzleRealtimeAnswers {
  const answerers = kuzzle.coreAnswerers;
  const own = (ask: (typeof QUERY_ASKS)[number]): Answerer => {
    const answerer = answerers?.get(ask);
    if (!answerer) throw new Error(`[cluster] this Kuzzle does not answer ${ask}`);
    return answerer;
  };
  const [size, list, join] = QUERY_ASKS.map(own) as [Answerer, Answerer, Answerer];
  // Kuzzle's answerers may answer at once or with a promise: always a promise here.
  const kuzzleAnswers: KuzzleRealtimeAnswers = {
    roomSize: async (roomId) => (await (size as (roomId: string) => unknown)(roomId)) as number,
    list: async (user) => (list as (user: unknown) => unknown)(user),
    join: async (request) => (join as (request: KuzzleRequestLike) => unknown)(request),
  };
  answerers?.set('core:realtime:room:size:get', (roomId: string) => cluster.count(roomId, kuzzleAnswers));
  answerers?.set('core:realtime:list', (user: KuzzleUserLike | null | undefined) => cluster.list(user, kuzzleAnswers));
  answerers?.set('core:realtime:join', (request: KuzzleRequestLike) => cluster.join(request, kuzzleAnswers));
  return kuzzleAnswers;
}
