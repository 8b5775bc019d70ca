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
  /** Subscribers of the one notified room, spread over the nodes; publishers on every node. */
  notifications: { subscribers: number; publishWindow: number; warmupMs: number; durationMs: number };
  /** How long each size's idle CPU is read before its cases (heartbeats and timers). */
  idleMs: number;
}

export function scaleOutParams(mode: 'quick' | 'full', sizes: number[], workers: number): ScaleOutParams {
  return mode === 'quick'
    ? { mode, sizes, workers, subscriptions: 2000, window: 20, notifications: { subscribers: 48, publishWindow: 10, warmupMs: 1000, durationMs: 3000 }, idleMs: 2000 }
    : { mode, sizes, workers, subscriptions: 100_000, window: 20, notifications: { subscribers: 96, publishWindow: 10, warmupMs: 2000, durationMs: 15_000 }, idleMs: 5000 };
}

/** `--nodes 1,2,4`: sizes, each a whole number from 1 to 16. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((part) => Number(part.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) {
    throw new Error(`--nodes takes cluster sizes from 1 to 16 separated by commas (1 = one Kuzzle without the plugin), got "${text}"`);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}
