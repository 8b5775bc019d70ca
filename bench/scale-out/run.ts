import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startElasticsearch, type RunningElasticsearch } from '../../test/harness/elasticsearch';
import { environment } from '../environment';
import { measureBareHop } from '../hop/bare-hop';
import { WorkerPool } from '../load/pool';
import { Side, type SideSpec } from '../side';
import { idleRates, notificationsCase, subscriptionsCase } from './cases';
import { collectingNodeArgs } from './collect-on-signal';
import { scaleOutParams, type LoadShape } from './params';
import { scaleOutMarkdown, capacityPlot } from './report';
import type { ScaleOutResults, SizeRecord } from './results';
import { newRunDir } from '../../test/harness/run-dir';

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What is measured at a size: every case, or (the unclustered control) the subscriptions and the room-per-node notifications, each published on its own room's node. */
type SizeKind = 'cluster' | 'control';

/** The Kuzzle nodes of a size: one without the plugin for 1, else a cluster, or (control) as many Kuzzles without the plugin, each on its own. */
function specOf(nodes: number, kind: SizeKind): SideSpec {
  if (kind === 'control') return { name: `u${nodes}`, label: `${nodes} Kuzzle nodes without the plugin, not a cluster (control)`, nodes, plugin: undefined };
  return nodes === 1
    ? { name: 'n1', label: 'one Kuzzle node without the plugin', nodes: 1, plugin: undefined }
    : { name: `n${nodes}`, label: `${nodes} Kuzzle nodes with this repository's plugin`, nodes, plugin: '.' };
}

/** One size: a fresh stack of `nodes` Kuzzle nodes, its cases, its evictions. */
async function measureSize(nodes: number, kind: SizeKind, esUrl: string, pool: WorkerPool, results: ScaleOutResults, log: (message: string) => void): Promise<SizeRecord> {
  const spec = specOf(nodes, kind);
  const record: SizeRecord = { nodes, idle: [] };
  let side: Side | undefined;
  try {
    log(`${spec.name}: starting ${spec.label}`);
    side = await Side.start(spec, esUrl, log);
    const idle = await idleRates(side, results.params.idleMs);
    record.idle = idle.nodes;
    record.redisIdle = idle.redis;
    log(`${spec.name}: subscriptions`);
    record.subscriptions = await subscriptionsCase(side, pool, results.params, idle);
    await side.waitNoRooms();
    if (kind === 'control') {
      log(`${spec.name}: notifications, one room per node in its own collection, each published on its own node`);
      record.partitioned = await notificationsCase(side, pool, results.params, idle, 'room per node', 'own collection');
      return record;
    }
    log(`${spec.name}: notifications`);
    record.notifications = await notificationsCase(side, pool, results.params, idle);
    log(`${spec.name}: notifications, one room per node in its own collection`);
    record.partitioned = await notificationsCase(side, pool, results.params, idle, 'room per node');
    if (side.clustered) record.evictions = await side.evictions(side.ports().map((_, i) => i + 1));
  } catch (error) {
    record.error = describe(error);
    log(`${spec.name} failed: ${record.error}`);
    await pool.all({ type: 'disconnect' }).catch(() => undefined);
  } finally {
    await side?.stop();
  }
  return record;
}

/**
 * `npm run bench -- --nodes 1,2,4,6,8`: the same load at each cluster size,
 * each on a fresh stack, with each node's CPU time per operation; writes
 * the raw JSON, bench/SCALE-OUT.md and a plot of capacity against size.
 */
export async function runScaleOut(mode: 'quick' | 'full', sizes: number[], workers: number, load: LoadShape, resultsDir: string, benchDir: string, log: (message: string) => void): Promise<ScaleOutResults> {
  mkdirSync(resultsDir, { recursive: true });
  const params = scaleOutParams(mode, sizes, workers, load);
  const startedAt = new Date();
  const stamp = `${startedAt.toISOString().replace(/[:.]/g, '-')}-scale-out-${mode}`;
  const results: ScaleOutResults = { kind: 'scale-out', stamp, startedAt: startedAt.toISOString(), finishedAt: '', params, environment: environment(undefined), sizes: [] };
  const pool = new WorkerPool(workers);
  let es: RunningElasticsearch | undefined;
  // Every Kuzzle node of the run collects its garbage when asked (see collectedRss).
  const nodeArgs = process.env.KPC_KUZZLE_NODE_ARGS;
  process.env.KPC_KUZZLE_NODE_ARGS = `${nodeArgs ?? ''} ${collectingNodeArgs()}`;
  process.env.KPC_BENCH_GC_DIR = newRunDir('bench-gc');
  try {
    log('bare hop: ZeroMQ PUB → SUB between two Node processes');
    results.hop = await measureBareHop([200, 1000], params.notifications.warmupMs, params.notifications.durationMs);
    let esUrl = process.env.KPC_ES_URL;
    if (!esUrl) {
      es = await startElasticsearch(newRunDir('bench-es'));
      esUrl = es.url;
    }
    results.controls = [];
    for (const nodes of sizes) {
      results.sizes.push(await measureSize(nodes, 'cluster', esUrl, pool, results, log));
      // Right after the cluster of the same size, so that both see the machine alike.
      if (nodes > 1) results.controls.push(await measureSize(nodes, 'control', esUrl, pool, results, log));
    }
    // The machine's speed drifts over a run: one Kuzzle again, last, brackets the others.
    if (sizes.includes(1) && sizes.length > 1) {
      log('one Kuzzle again, after the other sizes');
      results.baselineAgain = await measureSize(1, 'cluster', esUrl, pool, results, log);
    }
  } finally {
    pool.stop();
    await es?.stop();
    if (nodeArgs === undefined) delete process.env.KPC_KUZZLE_NODE_ARGS;
    else process.env.KPC_KUZZLE_NODE_ARGS = nodeArgs;
    delete process.env.KPC_BENCH_GC_DIR;
  }
  results.finishedAt = new Date().toISOString();
  results.environment.loadEnd = Math.round((await import('node:os')).loadavg()[0] * 100) / 100;
  writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify(results, null, 2));
  writeScaleOutReport(results, resultsDir, benchDir);
  log(`raw results in bench/results/${stamp}.json, report in bench/SCALE-OUT.md`);
  return results;
}

/** Writes bench/SCALE-OUT.md and its plot from a run's raw results. */
export function writeScaleOutReport(results: ScaleOutResults, resultsDir: string, benchDir: string): void {
  const plot = `${results.stamp}-capacity.svg`;
  writeFileSync(join(resultsDir, plot), capacityPlot(results));
  writeFileSync(join(benchDir, 'SCALE-OUT.md'), scaleOutMarkdown(results, plot));
}
