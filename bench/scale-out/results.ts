import type { Environment } from '../environment';
import type { HopResult } from '../hop/bare-hop';
import type { NotificationsResult, PhaseCost, SubscriptionsResult } from './cases';
import type { ScaleOutParams } from './params';

/** Raw measurements at one cluster size. */
export interface SizeRecord {
  nodes: number;
  /** CPU seconds per second of each node, idle. */
  idle: number[];
  /** CPU seconds per second of the shared Redis, idle (absent from runs before 2026-12-06 22:00). */
  redisIdle?: number;
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
  /**
   * One Kuzzle measured again after the other sizes (absent from runs
   * before 2026-12-05 07:25): this machine's speed drifts during a run, and
   * every ratio is taken against the mean of both readings.
   */
  baselineAgain?: SizeRecord;
  /**
   * The control (absent from runs before 2026-12-05 11:39; its
   * notifications from 11:57 on): at each size above 1, as many Kuzzle
   * nodes without the plugin, each its own realtime engine (sharing Redis
   * and Elasticsearch, not subscriptions: not a usable cluster), under the
   * same subscription load spread the same way, then the room-per-node
   * notifications with each change published on its room's node. What they
   * reach is what this machine gives that many processes when no work is
   * added or shared: the ceiling the cluster is measured against beside
   * one Kuzzle.
   */
  controls?: SizeRecord[];
  hop?: HopResult[];
}

/** The readings of one Kuzzle a run's ratios are taken against: the first, and the one after the other sizes. */
export function baselineReadings(results: ScaleOutResults): SizeRecord[] {
  const first = results.sizes.find((record) => record.nodes === 1);
  return [first, results.baselineAgain].filter((record): record is SizeRecord => record !== undefined && record.error === undefined);
}

/** The mean of the values that were measured; undefined when none was. */
export function meanOf(values: Array<number | undefined>): number | undefined {
  const measured = values.filter((value): value is number => value !== undefined && Number.isFinite(value));
  return measured.length === 0 ? undefined : measured.reduce((sum, value) => sum + value, 0) / measured.length;
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
 * Which RSS growth of a node holding the subscriptions: once the node went
 * quiet and V8 gave the burst's memory back by itself (`quiet`), right
 * after a forced full collection (`collected`), or 1 s after the burst.
 */
export type RssReading = 'quiet' | 'collected' | 'burst';

/** The reading the RSS target is judged on: quiet when the run has it, else collected, else 1 s after the burst (older runs). */
export function judgedReading(record: SizeRecord): RssReading {
  const held = record.subscriptions;
  if (held?.quiet) return 'quiet';
  return held?.rssCollectedGrowthMb ? 'collected' : 'burst';
}

/** RSS growth per node scaled to 100,000 subscriptions, in MB, of one reading (none when the run did not take it). */
export function rssPer100k(record: SizeRecord, subscriptions: number, reading: RssReading): number[] {
  const held = record.subscriptions;
  const growth = { quiet: held?.quiet?.rssGrowthMb, collected: held?.rssCollectedGrowthMb, burst: held?.rssGrowthMb }[reading] ?? [];
  return growth.map((mb) => (mb * 100_000) / subscriptions);
}
