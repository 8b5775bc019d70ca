import { parseRedisSettings, type RedisSettings } from './redis-settings';
import { parseCurveSettings, type CurveSettings } from './curve-settings';
import { boolean, integer, nonEmptyString } from './values';

/**
 * The one description of the plugin's options: each leaf holds its default,
 * its validation and the sentence README shows. The options type, the
 * defaults and the README table (see `options-table.ts`) are all derived
 * from this tree, so they cannot drift apart.
 */

/** One option: default, parser (raw value from .kuzzlerc or the environment) and documentation. */
export interface Leaf<T> {
  readonly leaf: true;
  readonly default: T;
  /** README's text for this key (Markdown, one line). */
  readonly doc: string;
  /** How README shows the default when it is not a plain value. */
  readonly shownDefault?: string;
  /** Former names still accepted, with a deprecation warning. */
  readonly aliases?: readonly string[];
  parse(key: string, raw: unknown): T;
}

/** A group of options (an object in the configuration). */
export type Group = { readonly [key: string]: Leaf<unknown> | Group };

/** The options type a schema tree describes. */
export type OptionsOf<S extends Group> = {
  -readonly [K in keyof S]: S[K] extends Leaf<infer T> ? T : S[K] extends Group ? OptionsOf<S[K]> : never;
};

export function isLeaf(node: Leaf<unknown> | Group): node is Leaf<unknown> {
  return (node as { leaf?: unknown }).leaf === true;
}

function leaf<T>(spec: Omit<Leaf<T>, 'leaf'>): Leaf<T> {
  return { leaf: true, ...spec };
}

const integerLeaf = (value: number, min: number, doc: string, aliases?: readonly string[]): Leaf<number> =>
  leaf({ default: value, doc, aliases, parse: (key, raw) => integer(key, raw, min) });

/** Node's timers take at most 2^31 - 1 ms; a longer delay fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const timerLeaf = (value: number, min: number, doc: string, aliases?: readonly string[]): Leaf<number> =>
  leaf({ default: value, doc, aliases, parse: (key, raw) => integer(key, raw, min, MAX_TIMER_MS) });

const stringLeaf = (value: string, doc: string): Leaf<string> => leaf({ default: value, doc, parse: nonEmptyString });

export const OPTION_SCHEMA = {
  bindings: {
    router: stringLeaf(
      'tcp://[_site_:ipv4]:7510',
      'where the ROUTER socket (requests: join, acknowledgements, reset) binds and what peers connect to',
    ),
    pub: stringLeaf('tcp://[_site_:ipv4]:7511', 'where the PUB socket (broadcasts: heartbeats, state changes; notifications, to the peers listening to their collection) binds'),
  },
  minimumNodes: integerLeaf(1, 1, '`GET /_plugin/cluster/health` answers 503 while the cluster has fewer members'),
  retryJoin: integerLeaf(
    30,
    0,
    'at start, how many times a node retries peers listed in Redis that do not answer yet (still starting) before it serves anyway',
  ),
  clusterName: leaf({
    default: 'kuzzle',
    doc: 'prefix of every Redis key (`kpc:<clusterName>:…`): several clusters can share one Redis. An all-digit name reaches the plugin as a number (Kuzzle reads its configuration so, dropping leading zeros) and is taken as written then',
    // Kuzzle turns every all-digit string of its configuration into a number.
    parse: (key, raw) => (typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : nonEmptyString(key, raw)),
  }),
  maxFrameBytes: integerLeaf(
    1024 * 1024,
    1024,
    'largest frame a node sends or accepts on the cluster ports; ZeroMQ refuses a bigger one before buffering it. Bigger messages travel in fragments of this size',
  ),
  maxMessageBytes: integerLeaf(
    16 * 1024 * 1024,
    1024,
    'largest message (a notification with its document, a batch of rooms), whole or in fragments; a node holds at most one partial message per connection: two per peer on the links to its peers, one per member on the ROUTER, and four in all for the other connections on the ROUTER (see Security)',
  ),
  highWaterMark: integerLeaf(
    100_000,
    1,
    'messages queued for one peer before its broadcasts are dropped (a peer that stopped reading); it then sees the gap and catches up',
  ),
  timers: {
    heartbeat: timerLeaf(
      500,
      20,
      'ms between two heartbeats; any broadcast sent (a state change, a notification every peer listens to) counts as one (at least 20: nodes tick every half heartbeat, at most every 10 ms)',
    ),
    heartbeatTimeout: timerLeaf(
      2500,
      1,
      'ms without any message from a peer before it is evicted (its subscriptions are purged once its card is no longer renewed; at least twice `heartbeat`: a peer\'s heartbeats come a heartbeat apart, from ticks a busy event loop may run late)',
    ),
    cardTtl: timerLeaf(
      5000,
      1,
      "ms a node's card stays in Redis without being renewed (renewed every half `heartbeat`): a crashed node is no longer looked for after it",
    ),
    discoverTimeout: timerLeaf(3000, 1, 'ms a node waits for a peer to answer its join, or a catch-up question'),
    joinAttemptInterval: timerLeaf(1000, 1, 'ms between two join attempts to the same peer', ['joinAttemptIntervall']),
    waitForMissingRooms: timerLeaf(2000, 1, "ms the first subscription of a collection on a node waits for every peer to record that the node listens there before Kuzzle answers it"),
    stateAck: timerLeaf(
      2000,
      1,
      'ms an action that changes Kuzzle-wide state (rights, tokens, indexes, specifications) waits for every peer to apply it',
    ),
    antiEntropy: timerLeaf(
      10000,
      1,
      "ms between two checks of this node's subscriptions against the shared state (drift is rewritten) and of the shared state for dead nodes' leftovers (purged)",
    ),
    leaveTimeout: timerLeaf(3000, 1, 'upper bound of the graceful leave during shutdown, once in-flight requests are done'),
    redisRetry: timerLeaf(
      30000,
      0,
      'ms a Redis operation failing in a transient way (connection lost, failover in progress: CLUSTERDOWN, TRYAGAIN, READONLY) is retried, with pauses growing from 50 ms to 1 s, before it fails; a subscription waits meanwhile instead of failing',
    ),
    stateUnreachable: timerLeaf(
      30000,
      0,
      'ms the shared state (Redis) may fail to answer before `GET /_plugin/cluster/health` answers 503 (above a Redis Cluster failover, which every node lives through alike: about 20 s with the Redis default `cluster-node-timeout` of 15 s); `status` shows every degraded period (`redis`) from its first failure',
    ),
    redisConnect: timerLeaf(
      10000,
      1,
      'ms a node waits at start-up for Redis to answer (connection, credentials, TLS) before Kuzzle refuses to start, with an error naming the Redis address and the failure',
    ),
  },
  curve: leaf<CurveSettings | undefined>({
    default: undefined,
    shownDefault: "Kuzzle's vault secret `cluster.curve`, if any",
    doc: '`{ secretKey, accept }`: the cluster\'s CURVE secret key (Z85, from `npx kuzzle-plugin-cluster keygen`), the same on every node, and public keys also accepted while rolling a new key over (see Security). Every cluster socket is then encrypted and only nodes holding the key can connect. Never logged, never shown by `status`',
    parse: parseCurveSettings,
  }),
  insecure: leaf<boolean>({
    default: false,
    doc: 'without `curve`, the cluster ports may only bind loopback addresses; `true` allows binding other addresses unauthenticated and unencrypted (a warning is logged at every start): only on a network where every host is trusted',
    parse: boolean,
  }),
  redis: leaf<RedisSettings | undefined>({
    default: undefined,
    shownDefault: "Kuzzle's `services.internalCache`",
    doc: '`{ node: { host, port } }` or `{ nodes: [...] }` (Redis Cluster), plus `database`, `options` (ioredis options: `password`, `tls`, …) and `clusterOptions`',
    parse: parseRedisSettings,
  }),
} as const;

export type OptionSchema = typeof OPTION_SCHEMA;
