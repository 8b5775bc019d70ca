/** What a scale-out run is parameterised by; recorded in its results. */
export interface ScaleOutParams {
  mode: 'quick' | 'full';
  /** Cluster sizes; 1 is one Kuzzle without the plugin. */
  sizes: number[];
  workers: number;
  /** Distinct subscriptions made, held (memory), then removed, spread over the nodes. */
  subscriptions: number;
  /** Requests in flight per connection while subscribing and unsubscribing. */
  window: number;
  /**
   * Subscriptions each node makes and removes before the measured ones
   * (absent from runs before 2026-12-06 22:40, which had none): a fresh
   * Kuzzle process runs its first requests unoptimised (V8 compiles the
   * hot code as it goes), and without this every added node paid that
   * once more within the same total load.
   */
  warmupPerNode?: number;
  /**
   * `--load per-node`: connections on each node while subscribing and
   * unsubscribing, the same at every size, so that each node is as busy as
   * one Kuzzle alone. Absent (`--load total`, and runs before the option):
   * the same few connections in all, spread over the nodes (fewer requests
   * in flight on each node as the cluster grows, and less contention for
   * this machine's cores).
   */
  connectionsPerNode?: number;
  /**
   * `--load turns`: the load goes to one node at a time, each node's turn
   * with one Kuzzle's load (its {@link connectionsPerNode} connections,
   * its share of the subscriptions; its publishers for a share of the
   * notification window), so that the busy Kuzzle process never competes
   * with another busy one for this machine's cores, as with a core per
   * node. Each node's CPU is summed over every turn: its own and what the
   * others' turns cost it.
   */
  turns?: boolean;
  /** Subscribers of the one notified room, spread over the nodes; publishers on every node. */
  notifications: {
    subscribers: number;
    publishWindow: number;
    /** `--load per-node`: publishing connections on each node (as {@link connectionsPerNode}); absent: one per node, at least 3 in all. */
    publishersPerNode?: number;
    warmupMs: number;
    durationMs: number;
  };
  /** How long each size's idle CPU is read before its cases (heartbeats and timers). */
  idleMs: number;
}

/**
 * How the load grows with the cluster: the same in all (`total`), the same on
 * each node at once (`per-node`), or one Kuzzle's load on each node by turns
 * (`turns`).
 */
export type LoadShape = 'total' | 'per-node' | 'turns';

export function scaleOutParams(mode: 'quick' | 'full', sizes: number[], workers: number, load: LoadShape = 'total'): ScaleOutParams {
  const perNode = load !== 'total';
  const notifications = mode === 'quick' ? { subscribers: 48, warmupMs: 1000, durationMs: 3000 } : { subscribers: 96, warmupMs: 2000, durationMs: 15_000 };
  return {
    mode,
    sizes,
    workers,
    subscriptions: mode === 'quick' ? 2000 : 100_000,
    window: 20,
    warmupPerNode: mode === 'quick' ? 500 : 5000,
    ...(perNode ? { connectionsPerNode: 8 } : {}),
    ...(load === 'turns' ? { turns: true } : {}),
    notifications: { ...notifications, publishWindow: 10, ...(perNode ? { publishersPerNode: 3 } : {}) },
    idleMs: mode === 'quick' ? 2000 : 5000,
  };
}

/** `--load total|per-node|turns`. */
export function parseLoadShape(text: string | undefined): LoadShape {
  if (text === undefined || text === 'total' || text === 'per-node' || text === 'turns') return text ?? 'total';
  throw new Error(`--load takes "total" (the same load in all at every size), "per-node" (the same load on each node at once) or "turns" (one Kuzzle's load on each node in turn), got "${text}"`);
}

/** `--nodes 1,2,4`: sizes, each a whole number from 1 to 16. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((part) => Number(part.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) {
    throw new Error(`--nodes takes cluster sizes from 1 to 16 separated by commas (1 = one Kuzzle without the plugin), got "${text}"`);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}
