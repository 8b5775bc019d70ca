// `node bench/trace/hop-offset.mjs OFFSET_MS...` (after `npm run build`): the quick
// latency case (one Kuzzle, then 3 nodes) once per offset, with the bare hop beside
// it sending OFFSET_MS after each publish of the case's schedule instead of half a
// period after (KPC_BENCH_HOP_OFFSET_MS). Does the hop take longer when it leaves
// at the moment a publish goes through the machine? One line per offset and rate:
// one node's p50, the cluster's, what the cluster adds, and the hop beside each side.
// The runs' raw files stay in bench/results (not their plots); RESULTS.md is put back
// as it was.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const root = new URL('../..', import.meta.url).pathname;
const resultsMd = `${root}bench/RESULTS.md`;
const kept = readFileSync(resultsMd, 'utf8');
const offsets = process.argv.slice(2);
try {
  for (const offset of offsets.length > 0 ? offsets : ['0']) {
    const log = execFileSync('node', [`${root}dist/bench/main.js`, '--quick', '--cases', 'latency'], {
      env: { ...process.env, KPC_BENCH_HOP_OFFSET_MS: offset },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const file = /raw results in (bench\/results\/\S+\.json)/.exec(log)?.[1];
    if (!file) throw new Error(`no results file in the bench's output:\n${log}`);
    const stamp = file.slice('bench/results/'.length, -'.json'.length);
    for (const plot of readdirSync(`${root}bench/results`)) if (plot.startsWith(`${stamp}-`) && plot.endsWith('.svg')) rmSync(`${root}bench/results/${plot}`);
    const { cases } = JSON.parse(readFileSync(`${root}${file}`, 'utf8'));
    const of = (side, rate) => cases.find((c) => c.side === side && c.case === `latency-${rate}`)?.metrics ?? {};
    for (const rate of [200, 1000]) {
      const single = of('single', rate);
      const cluster = of('cluster', rate);
      if (typeof single.p50 !== 'number' || typeof cluster.p50 !== 'number') throw new Error(`${file} lacks the latency case at ${rate}/s (see bench/RESULTS.md of that run)`);
      const added = Math.round((cluster.p50 - single.p50) * 100) / 100;
      console.log(
        `offset ${offset} ms, ${rate}/s: one node p50 ${single.p50} ms, cluster ${cluster.p50} ms, added ${added} ms; ` +
          `hop beside one node ${single.hopBesideP50} ms, beside the cluster ${cluster.hopBesideP50} ms (${file})`,
      );
    }
  }
} finally {
  writeFileSync(resultsMd, kept);
}
