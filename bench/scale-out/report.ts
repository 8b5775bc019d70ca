import { lineChart } from '../report/svg';
import { baselineReadings, capacity, cpuPerOperationUs, meanOf, rssPer100k, type ScaleOutResults, type SizeRecord } from './results';

const show = (value: number | undefined, digits = 2): string => (value === undefined || !Number.isFinite(value) ? '–' : String(Math.round(value * 10 ** digits) / 10 ** digits));
const list = (values: number[], digits = 2): string => values.map((v) => show(v, digits)).join(', ');
const max = (values: number[]): number | undefined => (values.length === 0 ? undefined : Math.max(...values));

/** The three capacities of a size, in operations per second with a core per node. */
function capacities(record: SizeRecord): { subscribe?: number; unsubscribe?: number; notify?: number; partitioned?: number } {
  return {
    subscribe: capacity(record.subscriptions?.subscribe),
    unsubscribe: capacity(record.subscriptions?.unsubscribe),
    notify: capacity(record.notifications?.cost),
    partitioned: capacity(record.partitioned?.cost),
  };
}

/** Where the subscriptions come from: the same connections on every node, or (runs before that) a fixed number spread over them. */
function connectionsText(params: ScaleOutResults['params']): string {
  return params.connectionsPerNode === undefined
    ? `8 connections in all (12 at 6 nodes), spread evenly over the nodes (${params.window} requests in flight each: fewer on each node as the cluster grows; \`--load total\`)`
    : `${params.connectionsPerNode} connections on every node (${params.window} requests in flight each: every node as busy as one Kuzzle alone, and the machine's cores more contended as the cluster grows; \`--load per-node\`)`;
}

function publishersText(params: ScaleOutResults['params']): string {
  const perNode = params.notifications.publishersPerNode;
  return perNode === undefined ? 'connections spread over the nodes (one per node, at least 3 in all)' : `${perNode} connections on every node`;
}

type Capacities = ReturnType<typeof capacities>;

/** What every ratio is taken against: the mean of one Kuzzle's readings (see {@link baselineReadings}). */
function baselineOf(results: ScaleOutResults): { capacities: Capacities; rss?: number; burstRss?: number } {
  const readings = baselineReadings(results);
  const each = readings.map(capacities);
  const subscriptions = results.params.subscriptions;
  return {
    capacities: {
      subscribe: meanOf(each.map((c) => c.subscribe)),
      unsubscribe: meanOf(each.map((c) => c.unsubscribe)),
      notify: meanOf(each.map((c) => c.notify)),
      partitioned: meanOf(each.map((c) => c.partitioned)),
    },
    rss: meanOf(readings.map((record) => max(rssPer100k(record, subscriptions)))),
    burstRss: meanOf(readings.map((record) => max(rssPer100k(record, subscriptions, true)))),
  };
}

/** The rows of a run's tables: every size, then one Kuzzle again when it was measured twice. */
function rowsOf(results: ScaleOutResults): Array<{ label: string; record: SizeRecord }> {
  const rows = results.sizes.map((record) => ({ label: String(record.nodes), record }));
  if (results.baselineAgain) rows.push({ label: '1 (again, last)', record: results.baselineAgain });
  return rows;
}

/** Targets at 6 nodes against one node (issue 20). */
const TARGETS = { nodes: 6, subscribe: 4, unsubscribe: 4, notify: 4.5, rss: 0.25 };

/** bench/SCALE-OUT.md: derived capacities per size against one node, then every raw number they come from. */
export function scaleOutMarkdown(results: ScaleOutResults, plot: string): string {
  const { environment: env, params } = results;
  const one = baselineReadings(results).length > 0;
  const { capacities: base, rss: baseRss, burstRss: baseBurstRss } = baselineOf(results);
  const ratio = (value: number | undefined, of: number | undefined): string => (value !== undefined && of ? `${show(value / of)}×` : '');
  const lines = ['# Scale-out benchmark', ''];
  if (params.mode === 'quick') lines.push('> **Quick run**: small sizes, to check that the bench works. Not a measurement.', '');
  lines.push(
    `Run ${results.startedAt} → ${results.finishedAt}, commit \`${env.commit.slice(0, 12)}\`${env.dirty ? ' (with uncommitted changes)' : ''}; raw data: [results/${results.stamp}.json](results/${results.stamp}.json). Machine: ${env.cores} × ${env.cpuModel}, ${env.memoryGb} GB, load average ${env.loadStart} → ${env.loadEnd ?? '?'}. Kuzzle ${env.kuzzle} on Node ${env.kuzzleNode}, \`NODE_ENV=${env.kuzzleNodeEnv ?? 'development'}\`; ${params.workers} load workers.`,
    '',
    `Every node, Redis, Elasticsearch and the load share ${env.cores} cores, so wall-clock rates say little about more machines. What is measured instead is the CPU time each Kuzzle process spends (from /proc, less its idle rate measured before the cases), and the **capacity with a core per node** = operations ÷ the busiest node's CPU seconds: the rate the cluster would sustain if each node had a core of its own and the busiest one were the limit. Size 1 is one Kuzzle without the plugin.`,
    '',
    `Load: ${params.subscriptions.toLocaleString('en-US')} distinct subscriptions (one new room each, over 10 collections) from ${connectionsText(params)}, held (RSS read 1 s after the last answer, then after a full garbage collection on every node, against a baseline read the same way: a burst leaves garbage in V8's heap, which RSS counts until V8 collects it and gives pages back, tens of seconds later or never; the collected reading is what holding the subscriptions costs; the bench loads a small file into each Kuzzle process for that, \`bench/scale-out/collect-on-signal.ts\`, which also reports the node's V8 heap right after collecting: live objects, and what V8 keeps committed), then removed; then ${params.notifications.subscribers} subscribers of one room spread over the nodes and \`realtime:publish\` from ${publishersText(params)} (${params.notifications.publishWindow} in flight each), measured over ${params.notifications.durationMs / 1000} s; then the same with one room per node, each in its own collection (each node's subscribers on their own collection, publishers on every node writing to every collection by turns: a change interests one node, which is the only peer it is sent to).`,
    '',
    '## Capacity with a core per node',
    '',
    '| nodes | subscribe (/s) | vs 1 | unsubscribe (/s) | vs 1 | notifications delivered (/s) | vs 1 | the same, room per node (/s) | vs 1 | RSS per node for 100k subscriptions, garbage collected (MB, largest) | vs 1 | the same 1 s after the burst (MB) | vs 1 | evictions |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { label, record } of rowsOf(results)) {
    const c = capacities(record);
    const rss = max(rssPer100k(record, params.subscriptions));
    const burstRss = max(rssPer100k(record, params.subscriptions, true));
    lines.push(
      `| ${label}${record.error ? ` (failed: ${record.error.split('\n')[0]})` : ''} | ${show(c.subscribe, 0)} | ${ratio(c.subscribe, base.subscribe)} | ${show(c.unsubscribe, 0)} | ${ratio(c.unsubscribe, base.unsubscribe)} | ${show(c.notify, 0)} | ${ratio(c.notify, base.notify)} | ${show(c.partitioned, 0)} | ${ratio(c.partitioned, base.partitioned)} | ${show(rss, 1)} | ${ratio(rss, baseRss)} | ${show(burstRss, 1)} | ${ratio(burstRss, baseBurstRss)} | ${record.evictions ?? '–'} |`,
    );
  }
  if (results.baselineAgain) {
    lines.push('', `"vs 1" is against the mean of one Kuzzle's two readings, first and last of the run (the machine's speed drifts over a run; the two rows show by how much).`);
  }
  const at = results.sizes.find((record) => record.nodes === TARGETS.nodes);
  if (at && one) {
    const c = capacities(at);
    const rss = max(rssPer100k(at, params.subscriptions));
    const check = (value: number | undefined, of: number | undefined, target: number, atMost = false): string => {
      if (value === undefined || !of) return 'not measured';
      const r = value / of;
      return `${show(r)}× (target ${atMost ? '≤' : '≥'} ${target}×): ${(atMost ? r <= target : r >= target) ? 'met' : '**missed**'}`;
    };
    lines.push(
      '',
      `Targets at ${TARGETS.nodes} nodes against one node: subscribe ${check(c.subscribe, base.subscribe, TARGETS.subscribe)}; unsubscribe ${check(c.unsubscribe, base.unsubscribe, TARGETS.unsubscribe)}; notifications ${check(c.notify, base.notify, TARGETS.notify)}; RSS per node ${check(rss, baseRss, TARGETS.rss, true)}.`,
    );
  }
  lines.push(
    '',
    `![capacity against nodes](results/${plot})`,
    '',
    '## Raw numbers',
    '',
    'Per node, in node order. CPU in seconds over the phase as read from /proc (raw), the same less the idle rate × the phase\'s wall time (busy), and busy CPU per operation in µs.',
    '',
    '| nodes | phase | operations | wall (s) | CPU raw (s) | CPU busy (s) | CPU per operation (µs) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { label, record } of rowsOf(results)) {
    const phases = [
      ['subscribe', record.subscriptions?.subscribe],
      ['unsubscribe', record.subscriptions?.unsubscribe],
      ['notifications delivered', record.notifications?.cost],
      ['notifications delivered, room per node', record.partitioned?.cost],
    ] as const;
    for (const [name, cost] of phases) {
      if (!cost) continue;
      lines.push(`| ${label} | ${name} | ${cost.operations} | ${show(cost.wallMs / 1000)} | ${list(cost.cpuSeconds)} | ${list(cost.busySeconds)} | ${list(cpuPerOperationUs(cost), 1)} |`);
    }
  }
  lines.push('', '| nodes | idle CPU (% of a core) | RSS growth with the subscriptions held, garbage collected (MB) | V8 heap growth: live, garbage collected (MB) | V8 heap growth: committed (MB) | RSS growth 1 s after the burst (MB) | publishes sent (one room, room per node) | request errors |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { label, record } of rowsOf(results)) {
    const errors = (record.subscriptions?.errors ?? 0) + (record.notifications?.errors ?? 0) + (record.partitioned?.errors ?? 0);
    const heap = record.subscriptions?.heapGrowth ?? [];
    const published = [record.notifications?.published, record.partitioned?.published].filter((n) => n !== undefined).join(', ');
    lines.push(`| ${label} | ${list(record.idle.map((rate) => rate * 100), 1)} | ${list(record.subscriptions?.rssCollectedGrowthMb ?? [], 1) || '–'} | ${list(heap.map((h) => h.usedMb), 1) || '–'} | ${list(heap.map((h) => h.totalMb), 1) || '–'} | ${list(record.subscriptions?.rssGrowthMb ?? [], 1)} | ${published || '–'} | ${errors}${record.subscriptions?.firstError ? ` (${record.subscriptions.firstError})` : ''} |`);
  }
  if (results.hop && results.hop.length > 0) {
    lines.push('', 'Bare ZeroMQ hop between two Node processes (~600-byte JSON, one way, measured in this run): ' + results.hop.map((h) => `${h.rate}/s ${h.curve ? 'CURVE' : 'plain'} p50 ${show(h.p50)} ms, p99 ${show(h.p99)} ms`).join('; ') + '.');
  }
  return [...lines, ''].join('\n');
}

/** Capacity against cluster size, relative to one node, with the ideal line. */
export function capacityPlot(results: ScaleOutResults): string {
  const base = baselineOf(results).capacities;
  const names = { subscribe: 'subscribe', unsubscribe: 'unsubscribe', notify: 'notifications', partitioned: 'notifications, room per node' };
  const series = (['subscribe', 'unsubscribe', 'notify', 'partitioned'] as const).map((kind) => ({
    name: names[kind],
    points: results.sizes.flatMap((record): Array<[number, number]> => {
      const value = capacities(record)[kind];
      const of = base[kind];
      return value !== undefined && of ? [[record.nodes, value / of]] : [];
    }),
  }));
  const sizes = results.sizes.map((record) => record.nodes);
  return lineChart('capacity with a core per node, relative to one Kuzzle', 'nodes', '× one node', [...series, { name: 'ideal (N×)', points: sizes.map((n): [number, number] => [n, n]) }]);
}
