import type { CaseContext, CaseOutput } from '../case-context';
import { rotated } from '../case-context';
import { COLLECTIONS } from '../side';
import { round2, slope } from '../stats';
import { joinOnce, type JoinMeasure } from './join';
import { listAndCount } from './list-count';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ScaleLevel {
  subscriptions: number;
  /** RSS of each original node, MB. */
  rssMb: number[];
  join?: JoinMeasure;
}

/**
 * (g), (e) and (d) on one ramp: subscriptions (one room each, over 10
 * collections, connections spread over the nodes) grow level by level; at
 * each level the nodes' RSS is read and, on a cluster, a fourth node joins
 * and leaves; at the top level `realtime:list` and `realtime:count` are timed.
 */
export async function scaleCase(ctx: CaseContext): Promise<CaseOutput> {
  const { side, pool, params, log } = ctx;
  const { levels, clientsPerWorker, window, listCalls, countCalls } = params.scale;
  const tag = `scale-${Date.now()}`;
  const ports = side.ports();
  await pool.all((k) => ({ type: 'connect', ports: rotated(ports, k), clients: clientsPerWorker }));
  const measured: ScaleLevel[] = [];
  let held = 0;
  let listCount: Record<string, number | undefined> = {};
  for (const [i, level] of levels.entries()) {
    if (level > held) {
      const per = Math.ceil((level - held) / pool.workers.length);
      const done = await pool.all((k) => ({
        type: 'subscribe',
        tag,
        index: side.index,
        collections: COLLECTIONS,
        filter: 'distinct',
        from: held + k * per,
        to: Math.min(level, held + (k + 1) * per),
        window,
      }));
      const errors = done.reduce((sum, d) => sum + d.errors, 0);
      if (errors > 0) throw new Error(`${errors} subscriptions failed at level ${level}: ${done.find((d) => d.firstError)?.firstError}`);
      held = level;
    }
    // Let the anti-entropy pass and the collectors of the last burst settle before reading RSS.
    await delay(2000);
    const entry: ScaleLevel = { subscriptions: level, rssMb: side.rssMb().map((mb) => Math.round(mb)) };
    if (i === levels.length - 1) listCount = await listAndCount(side, listCalls, countCalls);
    if (side.clustered) {
      entry.join = await joinOnce(side, level);
      log(`[${side.spec.name}] ${level} subscriptions: join ${entry.join.joinMs} ms (ready ${entry.join.readyMs} ms), ${entry.join.evictions} eviction(s)`);
    }
    log(`[${side.spec.name}] ${level} subscriptions: RSS ${entry.rssMb.join(', ')} MB`);
    measured.push(entry);
  }
  const top = measured[measured.length - 1];
  const meanRss = (level: ScaleLevel): number => level.rssMb.reduce((a, b) => a + b, 0) / level.rssMb.length;
  const perTenThousand = slope(measured.map((level) => [level.subscriptions / 10_000, meanRss(level)]));
  return {
    metrics: {
      subscriptions: top?.subscriptions,
      rssMbPer10k: round2(perTenThousand),
      joinMs: top?.join?.joinMs,
      joinReadyMs: top?.join?.readyMs,
      joinEvictions: side.clustered ? measured.reduce((sum, level) => sum + (level.join?.evictions ?? 0), 0) : undefined,
      ...listCount,
    },
    details: { levels: measured },
  };
}
