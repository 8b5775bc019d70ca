/**
 * Messages between the bench orchestrator and its load workers (child
 * processes, over Node's IPC channel). Load runs in workers so that the
 * process measuring is never the one saturating a core; every command
 * answers once, with `id` echoed.
 */

/** Which filter subscription `i` uses. */
export type FilterKind =
  /** `{ equals: { tag } }`: every subscription of the tag in one room (one per connection). */
  | 'same'
  /** `{ equals: { n: i } }`: one new room per subscription. */
  | 'distinct'
  /** A room of its own per subscription, every one matching the tag's documents. */
  | 'fanout';

export type Command =
  /** Opens `clients` WebSocket connections, round-robin over `ports`. */
  | { type: 'connect'; ports: number[]; clients: number }
  /**
   * Subscriptions `from`..`to` (exclusive), subscription i on client i % clients, `window` in flight per client,
   * in collection i % collections.length, or in `collectionOfClient[c]` for client c when given; with `port`, only
   * the clients connected to that port subscribe (and `c` counts those only).
   */
  | { type: 'subscribe'; tag: string; index: string; collections: string[]; collectionOfClient?: string[]; filter: FilterKind; from: number; to: number; window: number; port?: number }
  /** Removes the tag's subscriptions, or with `port` those made through clients connected to that port only. */
  | { type: 'unsubscribe'; tag: string; window: number; port?: number }
  /** Notifications of `tag` arriving between `from` and `to` (epoch ms) are counted and their latency kept. */
  | { type: 'arm'; tag: string; from: number; to: number }
  | { type: 'collect'; tag: string }
  /** Resolves once `expected` notifications of `tag` arrived since the last collect (or at the timeout). */
  | { type: 'waitCount'; tag: string; expected: number; timeoutMs: number }
  /** Open loop: `rate` publishes per second from client 0, from `startAt` for `durationMs`. */
  | { type: 'publish'; tag: string; index: string; collection: string; rate: number; startAt: number; durationMs: number }
  /**
   * Closed loop: every client keeps `window` publishes in flight, from `startAt` for `durationMs`, in `collections`
   * by turns, or each client in `collectionOfClient[c]` alone when given; with `port`, only the clients connected to
   * that port publish.
   */
  | { type: 'flood'; tag: string; index: string; collections: string[]; collectionOfClient?: string[]; window: number; startAt: number; durationMs: number; port?: number }
  | { type: 'disconnect' }
  | { type: 'cpu' };

export interface Collected {
  count: number;
  /** Latencies (ms) of the notifications counted. */
  latencies: number[];
  firstAt: number | undefined;
  lastAt: number | undefined;
}

export interface Replies {
  connect: { connected: number };
  subscribe: { ms: number; subscribed: number; errors: number; firstError?: string };
  unsubscribe: { ms: number; unsubscribed: number; errors: number };
  arm: Record<string, never>;
  collect: Collected;
  waitCount: Collected;
  publish: { sent: number; errors: number; skipped: number; firstError?: string };
  flood: { sent: number; errors: number; firstError?: string };
  disconnect: Record<string, never>;
  /** Process CPU time since it started, in microseconds. */
  cpu: { user: number; system: number };
}

export type Request = Command & { id: number };
export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/** The document every publish carries: `t` is the sender's clock (epoch ms, sub-ms). */
export interface BenchMessage {
  tag: string;
  t: number;
}
