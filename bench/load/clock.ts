import { performance } from 'node:perf_hooks';

/**
 * Epoch milliseconds with sub-millisecond resolution. Every process of the
 * bench runs on the same machine, so a time taken by the publisher's worker
 * and one taken by the subscriber's worker compare directly.
 */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleepUntil = (at: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));
