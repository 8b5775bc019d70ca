import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { paramsFor } from '../../bench/params';
import { missedTargetsAnalysis } from '../../bench/report/limits';
import { markdown } from '../../bench/report/markdown';
import { plots } from '../../bench/report/plots';
import type { BenchResults } from '../../bench/report/results';
import { verdict } from '../../bench/report/targets';
import { percentiles, slope } from '../../bench/stats';
import { repoRoot } from '../harness/run-dir';

const record = (side: string, name: string, metrics: Record<string, number | undefined>, details?: Record<string, unknown>): BenchResults['cases'][number] => ({
  side,
  case: name,
  metrics,
  details,
  durationMs: 1000,
  workerCpu: [{ worker: 0, percent: 12.5 }],
  nodeCpu: [40, Number.NaN],
});

const results: BenchResults = {
  stamp: 'stamp-quick',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:02:00.000Z',
  params: paramsFor('quick', 4),
  environment: { node: 'v20', kuzzleNode: 'v20', kuzzle: '2.10.4', kuzzleSdk: '7', cpuModel: 'cpu', cores: 2, memoryGb: 8, loadStart: 0, loadEnd: 0, commit: 'abc', dirty: false },
  sides: [
    { name: 'single', label: 'one node', nodes: 1, plugin: undefined },
    { name: 'cluster', label: 'three nodes', nodes: 3, plugin: '.' },
  ],
  cases: [
    record('single', 'latency-200', { p50: 1, p99: 2 }),
    record('cluster', 'latency-200', { p50: 1.1, p99: 4 }),
    record('single', 'scale', { listP50: 10 }, { levels: [{ subscriptions: 0, rssMb: [100] }, { subscriptions: 3000, rssMb: [130] }] }),
    record('cluster', 'scale', { listP50: 15, joinMs: 800 }, { levels: [{ subscriptions: 3000, rssMb: [120, 130, 140], join: { subscriptions: 3000, readyMs: 4000, joinMs: 800, evictions: 0 } }] }),
  ],
};

describe('bench report', () => {
  it('computes nearest-rank percentiles and a least-squares slope', () => {
    assert.deepEqual(percentiles([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), { p50: 5, p90: 9, p99: 10, samples: 10 });
    assert.deepEqual(percentiles([]), { p50: undefined, p90: undefined, p99: undefined, samples: 0 });
    assert.equal(slope([[0, 100], [1, 110], [2, 120]]), 10);
    assert.equal(slope([[1, 5]]), undefined);
  });

  it('judges targets on the ratio to the single node, or on the value itself', () => {
    assert.equal(verdict({ kind: 'ratio', op: '<=', value: 1.2 }, 1.1, 1), true);
    assert.equal(verdict({ kind: 'ratio', op: '<=', value: 1.3 }, 4, 2), false);
    assert.equal(verdict({ kind: 'ratio', op: '>=', value: 0.9 }, 95, 100), true);
    assert.equal(verdict({ kind: 'absolute', op: '<=', value: 5000 }, 800, undefined), true);
    assert.equal(verdict({ kind: 'ratio', op: '<=', value: 2 }, undefined, 1), undefined);
  });

  it('copies the analysis of missed targets from README, which has one', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const analysis = missedTargetsAnalysis(readme);
    assert.ok(analysis?.startsWith('- **'), 'README\'s Limits has a "Measured costs" item with sub-items');
    assert.equal(missedTargetsAnalysis('# nothing here\n'), undefined);
    assert.equal(missedTargetsAnalysis('- **Measured costs** a\n  - why\n  - and why\n\n## Next'), '- why\n- and why');
    const text = markdown(results, [], analysis);
    assert.match(text, /## Why missed targets are missed\n\n[^]*- \*\*/);
  });

  it('sets what the cluster adds to one node\'s p50 against the idle hop and the hop beside the case', () => {
    const withHop: BenchResults = {
      ...results,
      hop: [
        { rate: 200, curve: false, p50: 0.1, samples: 10, sent: 10 },
        { rate: 200, curve: true, p50: 0.2, p99: 0.5, samples: 10, sent: 10 },
      ],
      cases: [record('single', 'latency-200', { p50: 1, hopBesideP50: 0.3 }), record('cluster', 'latency-200', { p50: 1.6, hopBesideP50: 0.4 })],
    };
    const text = markdown(withHop, []);
    assert.match(text, /\| rate \(\/s\) \| idle hop p50, plain \(ms\) \| idle hop p50, CURVE \(ms\) \| idle hop p99, CURVE \(ms\) \| cluster: added p50 \(ms\) \| added ÷ idle CURVE hop \| hop beside cluster, p50 \(ms\) \| added ÷ hop beside \|/);
    // Added 0.6 ms: 3× the idle CURVE hop, 1.5× the hop beside the cluster's case (not the one beside one Kuzzle's).
    assert.match(text, /\| 200 \| 0\.1 \| 0\.2 \| 0\.5 \| 0\.6 \| 3× \| 0\.4 \| 1\.5× \|/);
    // Rates without any reading leave their cells empty, never NaN.
    assert.match(text, /\| 1000 \| – \| – \| – \| – \| {2}\| – \| {2}\|/);
    assert.equal(markdown(results, []).includes('## Cross-node latency against the bare hop'), false);
  });

  it('writes the table with met and missed, labels a quick run, and draws plots without holes', () => {
    const files = plots(results);
    const text = markdown(results, Object.keys(files));
    assert.match(text, /\*\*Quick run\*\*/);
    assert.match(text, /\| \(a\) latency at 200\/s, p50 \(ms\) \| 1 \| 1\.1 \| 1\.1× \| ratio ≤ 1\.2× \| met \|/);
    assert.match(text, /\| \(a\) latency at 200\/s, p99 \(ms\) \| 2 \| 4 \| 2× \| ratio ≤ 1\.3× \| \*\*missed\*\* \|/);
    assert.match(text, /\| \(d\) join with 3,000 subscriptions held: member → ready \(ms\) \| – \| 800 \| {2}\| ≤ 5000 \| met \|/);
    assert.match(text, /\| \(b\) notifications delivered.* \| not measured \|/);
    for (const [file, svg] of Object.entries(files)) {
      assert.match(file, /^stamp-quick-.*\.svg$/);
      assert.match(svg, /^<svg [^]*<\/svg>$/);
      assert.doesNotMatch(svg, /NaN|undefined|Infinity/, file);
    }
  });
});
