// Shared by the probes that compare quick latency runs (hop-offset.mjs,
// io-priority-ab.mjs): one run of `node dist/bench/main.js --quick --cases
// latency`, or of the full case without --quick (one Kuzzle, then 3 nodes),
// its plots deleted (its raw JSON kept in bench/results), and per rate: one node's p50, the cluster's, what
// the cluster adds, and the hop beside each side. Callers put RESULTS.md
// back with keepResultsMd.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

export const root = new URL('../..', import.meta.url).pathname;

/** Runs `body`, then puts bench/RESULTS.md back as it was (each bench run rewrites it). */
export async function keepResultsMd(body) {
  const resultsMd = `${root}bench/RESULTS.md`;
  const kept = readFileSync(resultsMd, 'utf8');
  try {
    return await body();
  } finally {
    writeFileSync(resultsMd, kept);
  }
}

/**
 * One quick latency run (a full one, 20 s per rate, when `quick` is false) with `env` added to this
 * process's; returns { file, rows: [{ rate, single, cluster, added, hopSingle, hopCluster }] }.
 */
export function quickLatency(env = {}, quick = true) {
  const log = execFileSync('node', [`${root}dist/bench/main.js`, ...(quick ? ['--quick'] : []), '--cases', 'latency'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const file = /raw results in (bench\/results\/\S+\.json)/.exec(log)?.[1];
  if (!file) throw new Error(`no results file in the bench's output:\n${log}`);
  const stamp = file.slice('bench/results/'.length, -'.json'.length);
  for (const plot of readdirSync(`${root}bench/results`)) if (plot.startsWith(`${stamp}-`) && plot.endsWith('.svg')) rmSync(`${root}bench/results/${plot}`);
  const { cases } = JSON.parse(readFileSync(`${root}${file}`, 'utf8'));
  const of = (side, rate) => cases.find((c) => c.side === side && c.case === `latency-${rate}`)?.metrics ?? {};
  const rows = [200, 1000].map((rate) => {
    const single = of('single', rate);
    const cluster = of('cluster', rate);
    if (typeof single.p50 !== 'number' || typeof cluster.p50 !== 'number') throw new Error(`${file} lacks the latency case at ${rate}/s (see bench/RESULTS.md of that run)`);
    return { rate, single: single.p50, cluster: cluster.p50, added: Math.round((cluster.p50 - single.p50) * 100) / 100, hopSingle: single.hopBesideP50, hopCluster: cluster.hopBesideP50 };
  });
  return { file, rows };
}
