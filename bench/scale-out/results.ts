import type { Environment } from '../environment';
import type { HopResult } from '../hop/bare-hop';
import type { NotificationsResult, PhaseCost, SubscriptionsResult } from './cases';
import type { ScaleOutParams } from './params';

/** Raw measurements at one cluster size. */
export interface SizeRecord {
  nodes: number;
  /** CPU seconds per second of each node, idle. */
  idle: number[];
  subscriptions?: SubscriptionsResult;
  notifications?: NotificationsResult;
  /** The same notification load with one room per node, each in its own collection (absent from runs before it existed). */
  partitioned?: NotificationsResult;
  /** Evictions counted by the nodes over the size's cases (0 expected). */
  evictions?: number;
  error?: string;
}

/** The raw JSON of a scale-out run (bench/results/<stamp>.json). */
export interface ScaleOutResults {
  kind: 'scale-out';
  stamp: string;
  startedAt: string;
  finishedAt: string;
  params: ScaleOutParams;
  environment: Environment;
  sizes: SizeRecord[];
  hop?: HopResult[];
}

/**
 * Operations per second the phase allows with a core per node: operations
 * over the busiest node's CPU seconds (idle subtracted). A node that pays
 * for every operation caps the cluster at what one core does for it.
 */
export function capacity(cost: PhaseCost | undefined): number | undefined {
  if (!cost) return undefined;
  const busiest = Math.max(...cost.busySeconds);
  return busiest > 0 ? cost.operations / busiest : undefined;
}

/** CPU microseconds each node spent per operation of the phase (idle subtracted). */
export function cpuPerOperationUs(cost: PhaseCost): number[] {
  return cost.busySeconds.map((seconds) => (seconds * 1e6) / Math.max(1, cost.operations));
}

/**
 * RSS growth per node scaled to 100,000 subscriptions, in MB: garbage
 * collected (runs before that reading existed: 1 s after the burst), or,
 * with `burst`, 1 s after the burst.
 */
export function rssPer100k(record: SizeRecord, subscriptions: number, burst = false): number[] {
  const held = record.subscriptions;
  const growth = (burst ? held?.rssGrowthMb : (held?.rssCollectedGrowthMb ?? held?.rssGrowthMb)) ?? [];
  return growth.map((mb) => (mb * 100_000) / subscriptions);
}
