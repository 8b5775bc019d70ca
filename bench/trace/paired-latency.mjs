// `node bench/trace/paired-latency.mjs [ROUNDS, default 6] [SECONDS, default 5]` (after
// `npm run build`): what the cluster adds to one Kuzzle's notification latency, in
// pairs taken moments apart. The bench's latency case measures one Kuzzle, then
// stops it and measures the cluster minutes later, while this machine's speed moves
// by up to 2x within half an hour (TRACE.md): each side's p50 then carries its own
// moment. Here one Kuzzle and a 3-node cluster run at the same time (sharing one
// Elasticsearch), and each round runs the latency case (bench/cases/latency.ts, its
// bare hop beside included) on both, one right after the other, at 200/s then
// 1,000/s, SECONDS measured after a 1 s warm-up, the order swapped every round. A
// round's added p50 is its cluster p50 less its single p50; each round's line is
// printed, then the medians, and the raw records (with the commit, the arguments
// and KPC_PAIRED_LABEL, which says what else was set) are written to
// bench/results/<stamp>-paired-latency.json, also when a round failed. The stack not measured stays up, idle
// (the cluster's heartbeats go on), which the bench's own runs do not have.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { root } from './quick-latency.mjs';

const dist = `${root}dist/`;
const { startElasticsearch } = await import(`${dist}test/harness/elasticsearch.js`);
const { killAllManagedProcesses } = await import(`${dist}test/harness/managed-process.js`);
const { newRunDir } = await import(`${dist}test/harness/run-dir.js`);
const { Side } = await import(`${dist}bench/side.js`);
const { WorkerPool } = await import(`${dist}bench/load/pool.js`);
const { paramsFor } = await import(`${dist}bench/params.js`);
const { runCase } = await import(`${dist}bench/case-context.js`);
const { latencyCase } = await import(`${dist}bench/cases/latency.js`);

const rounds = Number(process.argv[2] ?? '6');
const seconds = Number(process.argv[3] ?? '5');
if (!Number.isInteger(rounds) || rounds < 1 || !(seconds > 0)) throw new Error('usage: paired-latency.mjs [ROUNDS] [SECONDS]');
const log = (message) => console.log(`[paired ${new Date().toISOString().slice(11, 19)}] ${message}`);
const base = paramsFor('full', 4);
const params = { ...base, latency: { ...base.latency, warmupMs: 1000, durationMs: seconds * 1000 } };
// The mean of the middle two for an even count, not bench/stats' nearest rank (with 8 rounds that is
// the lower of the two): TRACE.md's paired figures are this median.
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const fmt = (value) => value.toFixed(2);

const pool = new WorkerPool(params.workers);
const sides = {};
let es;
const stamp = `${new Date().toISOString().replace(/[:.]/g, '-')}-paired-latency`;
const records = [];
const stop = async () => {
  pool.stop();
  for (const side of Object.values(sides)) await side.stop().catch(() => undefined);
  await es?.stop().catch(() => undefined);
  killAllManagedProcesses();
};
const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const write = () => {
  mkdirSync(`${root}bench/results`, { recursive: true });
  const label = process.env.KPC_PAIRED_LABEL ?? 'as it is';
  writeFileSync(`${root}bench/results/${stamp}.json`, JSON.stringify({ stamp, commit, label, argv: process.argv.slice(2), loadStart, rounds, seconds, records }, null, 2));
};
const loadStart = loadavg()[0];
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    write();
    void stop().finally(() => process.exit(code));
  });
}
try {
  es = await startElasticsearch(newRunDir('paired-es'));
  sides.single = await Side.start({ name: 'single', label: 'one Kuzzle node without the plugin', nodes: 1, plugin: undefined }, es.url, log);
  sides.cluster = await Side.start({ name: 'cluster', label: "3 Kuzzle nodes with this repository's plugin", nodes: 3, plugin: '.' }, es.url, log);
  for (let round = 1; round <= rounds; round++) {
    for (const rate of params.latency.rates) {
      const order = round % 2 === 1 ? ['single', 'cluster'] : ['cluster', 'single'];
      const pair = {};
      for (const name of order) {
        const record = await runCase(`latency-${rate}`, { side: sides[name], pool, params, log }, (ctx) => latencyCase(ctx, rate));
        if (record.error) throw new Error(`${name} latency-${rate}: ${record.error}`);
        pair[name] = record;
      }
      const single = pair.single.metrics;
      const cluster = pair.cluster.metrics;
      const added = cluster.p50 - single.p50;
      records.push({ round, rate, order, single: pair.single, cluster: pair.cluster, added });
      console.log(
        `round ${round} ${String(rate).padStart(4)}/s (${order.join(' then ')}): p50 one Kuzzle ${single.p50} ms, cluster ${cluster.p50}, added ${fmt(added)}, ` +
          `hop beside ${single.hopBesideP50} / ${cluster.hopBesideP50}, added ÷ cluster's hop ${fmt(added / cluster.hopBesideP50)}`,
      );
    }
  }
} finally {
  write();
  await stop();
}
for (const rate of params.latency.rates) {
  const of = records.filter((r) => r.rate === rate);
  const ratios = of.map((r) => r.added / r.cluster.metrics.hopBesideP50);
  console.log(
    `${String(rate).padStart(4)}/s, ${of.length} pairs: median added p50 ${fmt(median(of.map((r) => r.added)))} ms, ` +
      `median of added ÷ the cluster's hop beside ${fmt(median(ratios))} (from ${fmt(Math.min(...ratios))} to ${fmt(Math.max(...ratios))})`,
  );
}
console.log(`raw records in bench/results/${stamp}.json`);
