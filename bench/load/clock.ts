import { performance } from 'node:perf_hooks';

/**
 * Epoch milliseconds with sub-millisecond resolution. Every process of the
 * bench runs on the same machine, so a time taken by the publisher's worker
 * and one taken by the subscriber's worker compare directly.
 */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));

/**
 * An epoch time of {@link now} on the monotonic clock, in microseconds: the
 * clock of V8's CPU profiles (`node --cpu-prof`), shared by every process
 * of the machine.
 */
export function monotonicUs(epochMs: number): number {
  const offsetUs = Number(process.hrtime.bigint() / BigInt(1000)) - now() * 1000;
  return epochMs * 1000 + offsetUs;
}
