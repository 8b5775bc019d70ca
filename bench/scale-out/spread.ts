/**
 * Ports for `counts[k]` connections of worker k, so that connections go
 * round-robin over the nodes across all workers: every node gets the same
 * number of connections, give or take one.
 */
export function spreadPorts(ports: number[], counts: number[]): number[][] {
  let next = 0;
  return counts.map((count) => Array.from({ length: count }, () => ports[next++ % ports.length] as number));
}

/** Connections per worker so that `workers` × it is a multiple of `nodes`, and at least `least`. */
export function connectionsPerWorker(nodes: number, workers: number, least: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const step = nodes / gcd(nodes, workers);
  return Math.ceil(least / step) * step;
}

/** `total` connections shared by `workers` load workers as evenly as can be. */
export function shareOut(total: number, workers: number): number[] {
  return Array.from({ length: workers }, (_, k) => Math.floor(total / workers) + (k < total % workers ? 1 : 0));
}
