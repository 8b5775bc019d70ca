import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { markdown } from '../../bench/report/markdown';
import type { BenchResults } from '../../bench/report/results';
import { paramsFor } from '../../bench/params';
import { parseLoadShape, parseSizes, scaleOutParams } from '../../bench/scale-out/params';
import { capacityPlot, scaleOutMarkdown } from '../../bench/scale-out/report';
import { capacity, cpuPerOperationUs, type ScaleOutResults } from '../../bench/scale-out/results';
import { connectionsPerWorker, shareOut, spreadPorts } from '../../bench/scale-out/spread';
import type { PhaseCost } from '../../bench/scale-out/cases';

const environment = { node: 'v20', kuzzleNode: 'v20', kuzzle: '2.10.4', kuzzleSdk: '7', cpuModel: 'cpu', cores: 2, memoryGb: 8, loadStart: 0, loadEnd: 0, commit: 'abc', dirty: false };

/** A run's results around its sizes. */
const runOf = (params: ScaleOutResults['params'], sizes: ScaleOutResults['sizes'], more: Partial<ScaleOutResults> = {}): ScaleOutResults => ({ kind: 'scale-out', stamp: 's', startedAt: 'a', finishedAt: 'b', params, environment, sizes, ...more });

const cost = (operations: number, busySeconds: number[]): PhaseCost => ({ operations, wallMs: 1000, cpuSeconds: busySeconds.map((s) => s + 0.01), busySeconds });

describe('scale-out bench', () => {
  it('spreads the same connections in all over the nodes, across workers (--load total)', () => {
    for (const nodes of [1, 2, 4, 6, 8]) {
      const perWorker = connectionsPerWorker(nodes, 4, 2);
      assert.ok(perWorker >= 2);
      assert.equal((perWorker * 4) % nodes, 0, `${nodes} nodes`);
      const ports = Array.from({ length: nodes }, (_, i) => 7000 + i);
      const perNode = new Map<number, number>();
      for (const port of spreadPorts(ports, [perWorker, perWorker, perWorker, perWorker]).flat()) perNode.set(port, (perNode.get(port) ?? 0) + 1);
      assert.deepEqual(new Set(perNode.values()).size, 1, `${nodes} nodes: every node as many connections`);
    }
    assert.deepEqual(spreadPorts([1, 2, 3], [2, 2]), [[1, 2], [3, 1]]);
    assert.equal(scaleOutParams('full', [1], 4).connectionsPerNode, undefined);
  });

  it('gives every node the same connections at every size, shared out over the workers (--load per-node)', () => {
    assert.equal(scaleOutParams('full', [1], 4, 'per-node').connectionsPerNode, 8);
    assert.equal(parseLoadShape(undefined), 'total');
    assert.throws(() => parseLoadShape('both'), /--load takes "total" .* got "both"/);
    for (const nodes of [1, 2, 4, 6, 8]) {
      const counts = shareOut(8 * nodes, 4);
      assert.equal(Math.max(...counts) - Math.min(...counts), 0, `${nodes} nodes: workers share evenly`);
      const ports = Array.from({ length: nodes }, (_, i) => 7000 + i);
      const perNode = new Map<number, number>();
      for (const port of spreadPorts(ports, counts).flat()) perNode.set(port, (perNode.get(port) ?? 0) + 1);
      assert.deepEqual([...new Set(perNode.values())], [8], `${nodes} nodes: 8 connections on each node`);
    }
    assert.deepEqual(shareOut(7, 3), [3, 2, 2]);
  });

  it('gives each node one Kuzzle\'s load in turn, and sets the shared Redis\'s CPU against one Kuzzle (--load turns)', () => {
    const params = scaleOutParams('quick', [1, 2], 4, 'turns');
    assert.equal(parseLoadShape('turns'), 'turns');
    assert.equal(params.turns, true);
    assert.equal(params.connectionsPerNode, 8);
    assert.equal(params.notifications.publishersPerNode, 3);
    assert.equal(scaleOutParams('quick', [1, 2], 4, 'per-node').turns, undefined);
    const withRedis = (operations: number, busy: number[], redisBusy: number): PhaseCost => ({ ...cost(operations, busy), redis: { cpuSeconds: redisBusy + 0.01, busySeconds: redisBusy } });
    const held = (busy: number[], redisBusy: number): NonNullable<ScaleOutResults['sizes'][number]['subscriptions']> => ({
      subscribe: withRedis(2000, busy, redisBusy),
      unsubscribe: withRedis(2000, busy, redisBusy),
      rssGrowthMb: busy.map(() => 10),
      errors: 0,
    });
    const results = runOf(params, [
      { nodes: 1, idle: [0], redisIdle: 0.001, subscriptions: held([1], 0.1) },
      { nodes: 2, idle: [0, 0], redisIdle: 0.002, subscriptions: held([0.5, 0.5], 0.4) },
    ]);
    const text = scaleOutMarkdown(results, 'x.svg');
    assert.match(text, /the nodes \*\*by turns\*\*/);
    assert.equal(params.warmupPerNode, 500);
    assert.match(text, /Load: first, unmeasured, 500 subscriptions made and removed on each node/);
    assert.match(text, /## The shared Redis/);
    // One Kuzzle: 2000/s. Two nodes' Redis: 0.4 s for 2000 subscriptions, 200 µs each, 5000/s on one core.
    assert.match(text, /\| 2 \| 200 \| 5000 \| 2\.5× \| 200 \| 5000 \| 2\.5× \|\n/);
    assert.doesNotMatch(text, /\| 1 \| 100 \| 20000 \|/, 'no Redis row for one Kuzzle, which keeps no shared state');
    assert.match(text, /\| 2 \| subscribe \| 2000 \| 1 \| 0\.51, 0\.51 \| 0\.5, 0\.5 \| 250, 250 \| 0\.41, 0\.4 \|/, 'Redis\'s CPU, raw and busy, beside the nodes\'');
    assert.doesNotMatch(scaleOutMarkdown({ ...results, sizes: results.sizes.map((size) => ({ ...size, subscriptions: { ...held([1], 0), subscribe: cost(2000, [1]), unsubscribe: cost(2000, [1]) } })) }, 'x.svg'), /The shared Redis/, 'runs before Redis was read have no such section');
  });

  it('reads sizes and refuses what is not one', () => {
    assert.deepEqual(parseSizes('4, 1,2,4'), [1, 2, 4]);
    assert.throws(() => parseSizes('1,x'), /--nodes takes cluster sizes from 1 to 16/);
    assert.throws(() => parseSizes('0'), /got "0"/);
  });

  it('derives capacity from the busiest node and CPU per operation per node', () => {
    assert.equal(capacity(cost(1000, [0.5, 0.25])), 2000);
    assert.equal(capacity(cost(1000, [0, 0])), undefined);
    assert.deepEqual(cpuPerOperationUs(cost(1000, [0.5, 0.25])), [500, 250]);
  });

  it('reports capacities against one node, the targets at 6 nodes, the raw numbers and a plot without holes', () => {
    const params = scaleOutParams('quick', [1, 6], 4);
    const results: ScaleOutResults = {
      kind: 'scale-out',
      stamp: 'stamp',
      startedAt: 'a',
      finishedAt: 'b',
      params,
      environment,
      sizes: [
        {
          nodes: 1,
          idle: [0.01],
          subscriptions: { subscribe: cost(2000, [1]), unsubscribe: cost(2000, [1]), rssGrowthMb: [10], rssCollectedGrowthMb: [8], heapGrowth: [{ usedMb: 6, totalMb: 7 }], errors: 0 },
          notifications: { cost: cost(1000, [0.5]), published: 10, errors: 0 },
          partitioned: { cost: cost(1000, [0.5]), published: 12, errors: 0 },
        },
        { nodes: 6, idle: Array(6).fill(0.02), subscriptions: { subscribe: cost(2000, [0.2, 0.25, 0.2, 0.2, 0.2, 0.2]), unsubscribe: cost(2000, Array(6).fill(0.5)), rssGrowthMb: Array(6).fill(3), rssCollectedGrowthMb: [1.6, 1.2, 1.6, 1.6, 1.6, 1.6] }, evictions: 0 } as never,
        { nodes: 8, idle: [], error: 'boot failed\nstack' },
      ],
    };
    const text = scaleOutMarkdown(results, 'stamp-capacity.svg');
    assert.match(text, /\| 6 \| 8000 \| 4× \| 4000 \| 2× \| – \| {2}\| – \| {2}\| – \| {2}\| 80 \| 0\.2× \| 150 \| 0\.3× \| 0 \|/, 'no quiet reading in this run; the largest collected RSS, and the one right after the burst');
    assert.match(text, /\| 1 \| notifications delivered, room per node \| 1000 \|/);
    assert.match(text, /\| 1 \| 1 \| – \| – \| – \| – \| – \| 8 \| 6 \| 7 \| – \| 10 \| 10, 12 \| 0 \|/, 'the RSS readings it has, the heap (no young generation read in this run), publishes of both notification cases');
    assert.doesNotMatch(text, /Control/, 'a run without the control has no control section');
    assert.match(text, /subscribe 4× \(target ≥ 4×\): met; unsubscribe 2× \(target ≥ 4×\): \*\*missed\*\*; notifications not measured; RSS per node \(forced collection\) 0\.2× \(target ≤ 0\.25×\): met/);
    assert.match(text, /\| 8 \(failed: boot failed\) \|/);
    const older = scaleOutMarkdown({ ...results, sizes: results.sizes.map((size) => (size.subscriptions ? { ...size, subscriptions: { ...size.subscriptions, rssCollectedGrowthMb: undefined } } : size)) }, 'x.svg');
    assert.match(older, /\| 6 \| 8000 \| 4× \| 4000 \| 2× \| – \| {2}\| – \| {2}\| – \| {2}\| – \| {2}\| 150 \| 0\.3× \| 0 \|/, 'a run without the collected reading');
    assert.match(older, /RSS per node \(1 s after the burst\) 0\.3× \(target ≤ 0\.25×\): \*\*missed\*\*/, 'judged on the reading it has');
    assert.match(text, /\| 6 \| subscribe \| 2000 \| 1 \| 0\.21, 0\.26/);
    const svg = capacityPlot(results);
    assert.match(svg, /^<svg [^]*<\/svg>$/);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  });

  it('takes ratios against the mean of one Kuzzle measured first and last, and shows both readings', () => {
    const params = scaleOutParams('quick', [1, 2], 4);
    const one = (busy: number): ScaleOutResults['sizes'][number] => ({ nodes: 1, idle: [0], subscriptions: { subscribe: cost(2000, [busy]), unsubscribe: cost(2000, [busy]), rssGrowthMb: [10], rssCollectedGrowthMb: [busy * 10], errors: 0 } });
    const two = { nodes: 2, idle: [0, 0], subscriptions: { subscribe: cost(2000, [0.5, 0.5]), unsubscribe: cost(2000, [0.5, 0.5]), rssGrowthMb: [5, 5], rssCollectedGrowthMb: [5, 5], errors: 0 } };
    const results: ScaleOutResults = { kind: 'scale-out', stamp: 's', startedAt: 'a', finishedAt: 'b', params, environment, sizes: [one(1), two], baselineAgain: one(2) };
    const text = scaleOutMarkdown(results, 'x.svg');
    // One Kuzzle: 2000/s first, 1000/s last, so 1500/s; 2 nodes 4000/s.
    assert.match(text, /\| 2 \| 4000 \| 2\.67× \| 4000 \| 2\.67× \|/);
    assert.match(text, /\| 1 \(again, last\) \| 1000 \| 0\.67× \|/);
    assert.match(text, /\| 1 \(again, last\) \| subscribe \| 2000 \|/);
    assert.match(text, /against the mean of one Kuzzle's two readings/);
    assert.match(text, /\| 2 \| 4000 [^\n]*\| 250 \| 0\.33× \|/, 'RSS per 100k against the mean of 500 and 1000 MB');
    assert.doesNotMatch(capacityPlot(results), /NaN|undefined|Infinity/);
  });

  it('sets the cluster against the control of the same size: as many Kuzzles without the plugin, not a cluster', () => {
    const params = scaleOutParams('quick', [1, 2], 4);
    const held = (busy: number[], rss: number[], young: number[]): NonNullable<ScaleOutResults['sizes'][number]['subscriptions']> => ({
      subscribe: cost(2000, busy),
      unsubscribe: cost(2000, busy),
      rssGrowthMb: rss,
      rssCollectedGrowthMb: rss,
      heapGrowth: young.map((youngMb) => ({ usedMb: 1, totalMb: 2, youngMb })),
      // Quiet: what V8 gave back by itself, young generation shrunk.
      quiet: { rssGrowthMb: rss.map((mb) => mb / 2), heapGrowth: young.map(() => ({ usedMb: 1, totalMb: 1.5, youngMb: 0 })), waitedMs: [2000, 21_000], reduced: [young.map(() => true), young.map((_, i) => i === 0)] },
      errors: 0,
    });
    const results = runOf(
      params,
      [
        { nodes: 1, idle: [0], subscriptions: held([1], [100], [30]), partitioned: { cost: cost(1000, [0.5]), published: 10, errors: 0 } },
        { nodes: 2, idle: [0, 0], subscriptions: held([0.8, 0.8], [60, 70], [31, 29]), partitioned: { cost: cost(1000, [0.5, 0.5]), published: 10, errors: 0 } },
      ],
      { controls: [{ nodes: 2, idle: [0, 0], subscriptions: held([0.5, 0.5], [50, 50], [30, 30]), partitioned: { cost: cost(1000, [0.25, 0.25]), published: 20, errors: 0 } }] },
    );
    const text = scaleOutMarkdown(results, 'x.svg');
    // One Kuzzle 2000/s; the control 4000/s (2× one); the cluster 2500/s, 0.63× the control. Room per node: 2000/s, 4000/s, 2000/s.
    assert.match(text, /## Control: as many Kuzzles without the plugin, not a cluster/);
    assert.match(text, /\| 2 \| 4000 \| 2× \| 0\.63× \| 4000 \| 2× \| 0\.63× \| 4000 \| 2× \| 0\.5× \| 1250 \| 0\.5× \| 1\.4× \| 30, 30 \| 31, 29 \|/, 'RSS as the target is judged: the quiet reading');
    assert.match(text, /\| 2 \| 2500 \| 1\.25× \| 2500 \| 1\.25× \| – \| {2}\| 2000 \| 1× \| 1750 \| 0\.7× \| 3500 \| 0\.7× \| 3500 \| 0\.7× \| – \|/, 'the three RSS readings');
    assert.match(text, /\| 2, control \| subscribe \| 2000 \| 1 \| 0\.51, 0\.51 \| 0\.5, 0\.5 \| 250, 250 \|/, 'the control\'s raw numbers');
    assert.match(text, /\| 2, control \| notifications delivered, room per node \| 1000 \|/);
    assert.match(text, /\| 2 \| 0, 0 \| 30, 35 \| 1, 1 \| 1\.5, 1\.5 \| 0, 0 \| 2, 21\* \| 60, 70 \| 1, 1 \| 2, 2 \| 31, 29 \| 60, 70 \| 10 \|/, 'each reading, the young generation apart, the wait for quiet and a node not reduced in time');
    const svg = capacityPlot(results);
    assert.match(svg, /subscribe, control \(no plugin, not a cluster\)/);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
  });

  it('sets the latency case against the bare hop measured in the same run', () => {
    const record = (side: string, p50: number): BenchResults['cases'][number] => ({ side, case: 'latency-200', metrics: { p50 }, durationMs: 1, workerCpu: [], nodeCpu: [] });
    const results: BenchResults = {
      stamp: 's',
      startedAt: 'a',
      finishedAt: 'b',
      params: { ...paramsFor('quick', 4), latency: { rates: [200], warmupMs: 1, durationMs: 1 } },
      environment,
      sides: [
        { name: 'single', label: 'one', nodes: 1, plugin: undefined },
        { name: 'cluster', label: 'three', nodes: 3, plugin: '.' },
      ],
      cases: [record('single', 0.5), record('cluster', 0.8)],
      hop: [
        { rate: 200, curve: false, p50: 0.1, samples: 1, sent: 1 },
        { rate: 200, curve: true, p50: 0.15, p99: 1, samples: 1, sent: 1 },
      ],
    };
    assert.match(markdown(results, []), /\| 200 \| 0\.1 \| 0\.15 \| 1 \| 0\.3 \| 2× \|/);
    assert.doesNotMatch(markdown({ ...results, hop: undefined }, []), /bare hop/);
  });
});
