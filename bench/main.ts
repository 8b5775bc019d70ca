// `npm run bench`: measures one Kuzzle node without the plugin and the
// 3-node cluster (and, with --plugin, another build of the plugin) side by
// side in one run. Each side gets a fresh stack; the load comes from worker
// processes shared by every side. The raw results go to
// bench/results/<stamp>.json, then RESULTS.md and the plots are made from
// that file alone, so that --report can remake them later.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { startElasticsearch, type RunningElasticsearch } from '../test/harness/elasticsearch';
import { killAllManagedProcesses } from '../test/harness/managed-process';
import { newRunDir, repoRoot } from '../test/harness/run-dir';
import { runCase, type CaseContext, type CaseRecord } from './case-context';
import { fanoutCase } from './cases/fanout';
import { killCase } from './cases/kill';
import { latencyCase } from './cases/latency';
import { scaleCase } from './cases/scale';
import { subscribeCase } from './cases/subscribe';
import { throughputCase } from './cases/throughput';
import { environment } from './environment';
import { measureBareHop } from './hop/bare-hop';
import { latencyProfiles, profilingArgs } from './profile/latency-profiles';
import { WorkerPool } from './load/pool';
import { paramsFor } from './params';
import { markdown } from './report/markdown';
import { missedTargetsAnalysis } from './report/limits';
import { plots } from './report/plots';
import type { BenchResults } from './report/results';
import { parseLoadShape, parseSizes } from './scale-out/params';
import type { ScaleOutResults } from './scale-out/results';
import { runScaleOut, writeScaleOutReport } from './scale-out/run';
import { Side, type SideSpec } from './side';

const USAGE = `usage: npm run bench -- [--quick] [--plugin DIR] [--workers N] [--cases a,b] [--report results/<stamp>.json]
  --quick        small sizes and short runs (under 5 minutes), to check the bench works
  --plugin DIR   also measure another build of the plugin (a folder with package.json and dist/)
  --workers N    load worker processes (default 4)
  --cases LIST   only these cases: latency, throughput, subscribe, fanout, scale, kill
  --nodes LIST   scale-out run instead: the same load at each cluster size (e.g. 1,2,4,6,8; 1 = one
                 Kuzzle without the plugin), CPU time per operation on each node, and after each size
                 above 1 the control: as many Kuzzles without the plugin, not a cluster, under the same
                 subscription load; writes bench/SCALE-OUT.md
  --load SHAPE   with --nodes: "total" (default: the same connections in all at every size), "per-node"
                 (the same connections on each node at once: each node as busy as one Kuzzle alone) or
                 "turns" (one Kuzzle's load on each node in turn: no two busy Kuzzles compete for the cores)
  --profile      also profile the nodes (node --cpu-prof): flame graphs of the latency cases, publisher's and
                 subscriber's node, cut to the measured window (the profiler adds its own cost to those latencies)
  --report FILE  only rewrite RESULTS.md (or SCALE-OUT.md) and the plots from a results file`;

const benchDir = join(repoRoot, 'bench');
const resultsDir = join(benchDir, 'results');
const log = (message: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

/** Writes RESULTS.md and the plots of a run. */
function report(results: BenchResults): void {
  const files = plots(results);
  for (const [file, svg] of Object.entries(files)) writeFileSync(join(resultsDir, file), svg);
  const analysis = missedTargetsAnalysis(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  writeFileSync(join(benchDir, 'RESULTS.md'), markdown(results, Object.keys(files), analysis));
  log(`wrote bench/RESULTS.md and ${Object.keys(files).length} plots`);
}

/** The cases of one side, in order; kill, which restarts a node, last. */
async function runSide(ctx: CaseContext, only: Set<string> | undefined): Promise<CaseRecord[]> {
  const records: CaseRecord[] = [];
  const wanted = (name: string): boolean => !only || only.has(name);
  // Scale first, on nodes that ran nothing yet: their RSS then grows with the subscriptions only.
  if (wanted('scale')) records.push(await runCase('scale', ctx, scaleCase));
  if (wanted('latency')) for (const rate of ctx.params.latency.rates) records.push(await runCase(`latency-${rate}`, ctx, (c) => latencyCase(c, rate)));
  if (wanted('throughput')) records.push(await runCase('throughput', ctx, throughputCase));
  if (wanted('subscribe')) records.push(await runCase('subscribe', ctx, subscribeCase));
  if (wanted('fanout')) records.push(await runCase('fanout', ctx, fanoutCase));
  if (wanted('kill') && ctx.side.clustered) records.push(await runCase('kill', ctx, killCase));
  return records;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  if (args.includes('--help')) {
    console.log(USAGE);
    return;
  }
  mkdirSync(resultsDir, { recursive: true });
  const reportOnly = option('--report');
  if (reportOnly) {
    // As the usage says, `results/<stamp>.json` is under bench/; a path from the working directory works too.
    const path = existsSync(resolve(reportOnly)) ? resolve(reportOnly) : join(benchDir, reportOnly);
    const raw = JSON.parse(readFileSync(path, 'utf8')) as BenchResults | ScaleOutResults;
    if ('kind' in raw && raw.kind === 'scale-out') writeScaleOutReport(raw, resultsDir, benchDir);
    else report(raw as BenchResults);
    return;
  }
  const mode = args.includes('--quick') ? 'quick' : 'full';
  const workers = Number(option('--workers') ?? 4);
  const sizes = option('--nodes');
  if (sizes !== undefined) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        killAllManagedProcesses();
        process.exit(130);
      });
    }
    const run = await runScaleOut(mode, parseSizes(sizes), workers, parseLoadShape(option('--load')), resultsDir, benchDir, log);
    const failed = [...run.sizes.map((record) => ({ record, what: 'nodes' })), ...(run.controls ?? []).map((record) => ({ record, what: 'nodes, control' }))].filter(({ record }) => record.error);
    if (failed.length > 0) {
      log(`failed at ${failed.map(({ record, what }) => `${record.nodes} ${what}`).join(', ')} (see bench/SCALE-OUT.md)`);
      process.exitCode = 1;
    }
    return;
  }
  const otherPlugin = option('--plugin') ? resolve(option('--plugin') as string) : undefined;
  const params = paramsFor(mode, workers);
  const only = option('--cases') ? new Set((option('--cases') as string).split(',')) : undefined;
  const sides: SideSpec[] = [
    { name: 'single', label: 'one Kuzzle node without the plugin', nodes: 1, plugin: undefined },
    { name: 'cluster', label: `3 Kuzzle nodes with this repository's plugin`, nodes: 3, plugin: '.' },
  ];
  if (otherPlugin) sides.push({ name: 'cluster-b', label: `3 Kuzzle nodes with the plugin build in ${otherPlugin}`, nodes: 3, plugin: otherPlugin });
  const startedAt = new Date();
  const stamp = `${startedAt.toISOString().replace(/[:.]/g, '-')}-${params.mode}`;
  const results: BenchResults = { stamp, startedAt: startedAt.toISOString(), finishedAt: '', params, environment: environment(otherPlugin), sides, cases: [] };
  log(`${params.mode} run, ${sides.map((s) => s.name).join(' / ')}, load ${results.environment.loadStart}`);

  let es: RunningElasticsearch | undefined;
  let esUrl = process.env.KPC_ES_URL;
  const pool = new WorkerPool(params.workers);
  let side: Side | undefined;
  const cleanUp = async (): Promise<void> => {
    pool.stop();
    await side?.stop();
    await es?.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanUp().finally(() => {
      killAllManagedProcesses();
      process.exit(130);
    }));
  }
  try {
    if (!esUrl) {
      es = await startElasticsearch(newRunDir('bench-es'));
      esUrl = es.url;
    }
    if (!only || only.has('latency')) {
      log('bare hop: ZeroMQ PUB → SUB between two Node processes');
      results.hop = await measureBareHop(params.latency.rates, params.latency.warmupMs, params.latency.durationMs);
    }
    for (const spec of sides) {
      log(`starting ${spec.name}: ${spec.label}`);
      const profileDir = args.includes('--profile') ? newRunDir(`bench-profile-${spec.name}`) : undefined;
      const nodeArgs = process.env.KPC_KUZZLE_NODE_ARGS;
      if (profileDir) process.env.KPC_KUZZLE_NODE_ARGS = `${nodeArgs ?? ''} ${profilingArgs(profileDir)}`;
      try {
        side = await Side.start(spec, esUrl, log);
        const records = await runSide({ side, pool, params, log }, only);
        results.cases.push(...records);
        if (profileDir) {
          const pids = side.pids();
          // Each node writes its profile as it exits.
          await side.stop();
          side = undefined;
          (results.profiles ??= []).push(...latencyProfiles(spec.name, records, pids, profileDir, resultsDir, stamp));
        }
      } catch (error) {
        // One side that cannot start must not cost the others' results.
        const message = error instanceof Error ? error.message : String(error);
        log(`${spec.name} failed: ${message}`);
        results.cases.push({ side: spec.name, case: 'start', durationMs: 0, workerCpu: [], nodeCpu: [], metrics: {}, error: message });
      } finally {
        await side?.stop();
        side = undefined;
        if (nodeArgs === undefined) delete process.env.KPC_KUZZLE_NODE_ARGS;
        else process.env.KPC_KUZZLE_NODE_ARGS = nodeArgs;
      }
    }
  } finally {
    await cleanUp();
  }
  results.finishedAt = new Date().toISOString();
  results.environment.loadEnd = Math.round((await import('node:os')).loadavg()[0] * 100) / 100;
  const file = join(resultsDir, `${stamp}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  log(`raw results in bench/results/${basename(file)} (${Math.round((Date.now() - startedAt.getTime()) / 1000)} s)`);
  report(results);
  const failed = results.cases.filter((record) => record.error);
  if (failed.length > 0) {
    log(`failed: ${failed.map((record) => `${record.side}/${record.case}`).join(', ')} (see bench/RESULTS.md)`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});
