import type { HopResult } from '../hop/bare-hop';
import { ratioText, show } from './format';
import { recordOf, type BenchResults } from './results';
import { rowSpecs, verdict } from './targets';

/** CPU seconds of every Kuzzle node of a side during one case (a node without a reading counts as nothing). */
function nodeCpuSeconds(record: { nodeCpu: number[]; durationMs: number }): string {
  const percent = record.nodeCpu.reduce((sum, cpu) => sum + ((typeof cpu !== 'number' || Number.isNaN(cpu)) ? 0 : cpu), 0);
  return ((percent / 100) * (record.durationMs / 1000)).toFixed(1);
}

/**
 * The latency case against its floor: what the cluster adds to one node's
 * p50, next to the bare ZeroMQ hop between two processes measured in the
 * same run, on the idle machine and beside the cluster's latency case
 * (runs before 2026-12-05 15:00 have only the first). Empty for runs
 * without the hop.
 */
function hopSection(results: BenchResults, single: string, clustered: string[]): string[] {
  const hop = results.hop ?? [];
  if (hop.length === 0) return [];
  const idle = (rate: number, curve: boolean): HopResult | undefined => hop.find((h) => h.rate === rate && h.curve === curve);
  const lines = [
    '## Cross-node latency against the bare hop',
    '',
    'The floor of a notification crossing nodes: a ~600-byte JSON message, one way from a ZeroMQ PUB in one Node process to a SUB in another, on loopback, at the latency case\'s rates, measured in this run: with the machine otherwise idle, plain and with CURVE (as the cluster\'s sockets), and with CURVE beside the cluster\'s latency case (same rate, same window: the same load on the same two cores). "Added" is the cluster\'s p50 minus one node\'s.',
    '',
    '| rate (/s) | idle hop p50, plain (ms) | idle hop p50, CURVE (ms) | idle hop p99, CURVE (ms) | ' +
      clustered.map((side) => `${side}: added p50 (ms) | added ÷ idle CURVE hop | hop beside ${side}, p50 (ms) | added ÷ hop beside`).join(' | ') +
      ' |',
    `| --- | --- | --- | --- | ${clustered.map(() => '--- | --- | --- | ---').join(' | ')} |`,
  ];
  for (const rate of results.params.latency.rates) {
    const base = recordOf(results, single, `latency-${rate}`)?.metrics.p50;
    const curveHop = idle(rate, true);
    const cells = [String(rate), show(idle(rate, false)?.p50), show(curveHop?.p50), show(curveHop?.p99)];
    for (const side of clustered) {
      const metrics = recordOf(results, side, `latency-${rate}`)?.metrics;
      const added = metrics?.p50 !== undefined && base !== undefined ? metrics.p50 - base : undefined;
      cells.push(show(added), ratioText(added, curveHop?.p50, ''), show(metrics?.hopBesideP50), ratioText(added, metrics?.hopBesideP50, ''));
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return [...lines, ''];
}

/** Flame graphs and the top of each profiled node's self time (runs with --profile). */
function profileSection(results: BenchResults): string[] {
  const profiles = results.profiles ?? [];
  if (profiles.length === 0) return [];
  const lines = [
    '## CPU profiles of the latency cases',
    '',
    'Each node ran with `node --cpu-prof`; samples are cut to the case\'s measured window (the profiler\'s own cost is in this run\'s latencies). Share = samples in which the function was the running frame, of the node\'s busy samples in the window (idle left out).',
    '',
  ];
  for (const profile of profiles) {
    lines.push(
      `### ${profile.side}, ${profile.case}, node ${profile.node} (${profile.role}'s node): ${profile.samples} samples`,
      '',
      `[flame graph](results/${profile.svg})`,
      '',
      '| self (%) | function |',
      '| --- | --- |',
      ...profile.top.map((entry) => `| ${(entry.share * 100).toFixed(1)} | \`${entry.frame.replace(/\|/g, '\\|')}\` |`),
      '',
    );
  }
  return lines;
}

/**
 * bench/RESULTS.md: what was measured, on what, the table against the
 * targets, CPU of the load generator, plots. `analysis`: why missed targets
 * are missed (see {@link missedTargetsAnalysis}).
 */
export function markdown(results: BenchResults, plotFiles: string[], analysis?: string): string {
  const { environment: env, params } = results;
  const single = results.sides.find((side) => side.plugin === undefined)?.name ?? 'single';
  const clustered = results.sides.filter((side) => side.plugin !== undefined);
  const lines: string[] = ['# Benchmark results', ''];
  if (params.mode === 'quick') {
    lines.push('> **Quick run** (`npm run bench -- --quick`): small sizes and short durations, to check that the bench works. Not a measurement: run `npm run bench` on an idle machine for one.', '');
  }
  if (env.loadStart > 0.5 || (env.loadEnd ?? 0) > 0.5) {
    lines.push(`> The machine was not idle (load average ${env.loadStart} at the start, ${env.loadEnd ?? '?'} at the end): timings are not comparable with a run on an idle machine.`, '');
  }
  lines.push(
    `Run ${results.startedAt} → ${results.finishedAt}, commit \`${env.commit.slice(0, 12)}\`${env.dirty ? ' (with uncommitted changes)' : ''}; raw data: [results/${results.stamp}.json](results/${results.stamp}.json).`,
    '',
    `Machine: ${env.cores} × ${env.cpuModel}, ${env.memoryGb} GB. Node ${env.node} (Kuzzle nodes on ${env.kuzzleNode}, \`NODE_ENV=${env.kuzzleNodeEnv ?? 'development'}\`), Kuzzle ${env.kuzzle}, kuzzle-sdk ${env.kuzzleSdk}. ${params.workers} load workers.`,
    '',
    'Sides, each on its own fresh stack (Redis, the shared Elasticsearch, Kuzzle nodes):',
    '',
    ...results.sides.map((side) => `- **${side.name}**: ${side.label}`),
    '',
    `Parameters: \`${JSON.stringify(params)}\``,
    '',
  );
  const header = ['measure', single, ...clustered.flatMap((side) => [side.name, 'ratio', 'target', 'result'])];
  lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  for (const row of rowSpecs(params)) {
    const base = recordOf(results, single, row.case)?.metrics[row.metric];
    const cells = [`${row.label}${row.unit ? ` (${row.unit})` : ''}`, show(base)];
    for (const side of clustered) {
      const value = recordOf(results, side.name, row.case)?.metrics[row.metric];
      const target = row.target ? `${row.target.kind === 'ratio' ? 'ratio ' : ''}${row.target.op === '<=' ? '≤' : '≥'} ${row.target.value}${row.target.kind === 'ratio' ? '×' : ''}` : '';
      const met = row.target ? verdict(row.target, value, base) : undefined;
      cells.push(show(value), ratioText(value, base, ''), target, met === undefined ? (row.target ? 'not measured' : '') : met ? 'met' : '**missed**');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push(
    '',
    'Every process runs on the one machine: the cluster\'s three nodes share its cores with Redis, Elasticsearch and the load workers, so the ratios give the cost of the plugin on the same hardware, not what more machines would add. Ratios are side / single node (lower is better for times, higher for rates). (d) is timed from node 1 counting the newcomer as a member to the newcomer ready (loading the shared state), with the most subscriptions of the ramp; "process start → ready" adds Kuzzle\'s own boot. (g) is the slope of RSS over the ramp\'s levels.',
    '',
    ...hopSection(results, single, clustered.map((side) => side.name)),
    ...profileSection(results),
    'Why a missed target is missed (what costs the time, measured on this machine, and what would be needed) is written in README\'s [Limits](../README.md#limits) section, from the last full run, and copied below.',
    '',
    '## Load generator and nodes',
    '',
    'Share of one core used during each case (100 = one core busy): a load worker near 100 means the load generator, not Kuzzle, was the limit.',
    '',
    'The last column adds up the CPU time of every Kuzzle node during the case: what the case cost the machine, whichever node paid.',
    '',
    '| side | case | seconds | load workers (%) | Kuzzle nodes (%) | Kuzzle nodes, CPU time (s) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...results.cases.map(
      (record) => `| ${record.side} | ${record.case}${record.error ? ` (failed: ${record.error.split('\n')[0]})` : ''} | ${Math.round(record.durationMs / 1000)} | ${record.workerCpu.map((w) => w.percent).join(', ')} | ${record.nodeCpu.map((cpu) => ((typeof cpu !== 'number' || Number.isNaN(cpu)) ? '–' : cpu)).join(', ')} | ${nodeCpuSeconds(record)} |`,
    ),
    '',
    ...(analysis ? ['## Why missed targets are missed', '', '(From README\'s [Limits](../README.md#limits), written from the last full run.)', '', analysis, ''] : []),
    '## Plots',
    '',
    ...plotFiles.map((file) => `![${file}](results/${file})`),
    '',
  );
  return lines.join('\n');
}
