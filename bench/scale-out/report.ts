import { ratioText, show } from '../report/format';
import { lineChart } from '../report/svg';
import type { HeapReading, PhaseCost } from './cases';
import { baselineReadings, capacity, cpuPerOperationUs, judgedReading, meanOf, rssPer100k, type RssReading, type ScaleOutResults, type SizeRecord } from './results';

const list = (values: number[], digits = 2): string => values.map((v) => show(v, digits)).join(', ');
const max = (values: number[]): number | undefined => (values.length === 0 ? undefined : Math.max(...values));
/** The values that were read, as a cell ('–' when none was). */
const readCell = (values: Array<number | undefined>): string => list(values.filter((v): v is number => v !== undefined), 1) || '–';

/** The three capacities of a size, in operations per second with a core per node. */
function capacities(record: SizeRecord): { subscribe?: number; unsubscribe?: number; notify?: number; partitioned?: number } {
  return {
    subscribe: capacity(record.subscriptions?.subscribe),
    unsubscribe: capacity(record.subscriptions?.unsubscribe),
    notify: capacity(record.notifications?.cost),
    partitioned: capacity(record.partitioned?.cost),
  };
}

/** Where the subscriptions come from: the same connections on every node (`--load per-node`), or the same few in all spread over the nodes (`--load total`, and runs before the option). */
function connectionsText(params: ScaleOutResults['params']): string {
  if (params.turns) {
    return `${params.connectionsPerNode ?? 8} connections on every node (${params.window} requests in flight each), the nodes **by turns**: each node's share through its own connections, one node after the other, so that one Kuzzle's load is on one node at a time and no two busy Kuzzles compete for the cores, as with a core per node (each node's CPU summed over every turn, its own and the others'; \`--load turns\`)`;
  }
  return params.connectionsPerNode === undefined
    ? `8 connections in all (12 at 6 nodes), spread evenly over the nodes (${params.window} requests in flight each: fewer on each node as the cluster grows; \`--load total\`)`
    : `${params.connectionsPerNode} connections on every node (${params.window} requests in flight each: every node as busy as one Kuzzle alone, and the machine's cores more contended as the cluster grows; \`--load per-node\`)`;
}

/** The unmeasured warm-up before the subscriptions, when the run had one. */
function warmUpText(params: ScaleOutResults['params']): string {
  const warm = params.warmupPerNode;
  return warm ? `first, unmeasured, ${warm.toLocaleString('en-US')} subscriptions made and removed on each node the same way (a fresh process runs its first requests unoptimised, and without it each added node paid that once more); then ` : '';
}

function publishersText(params: ScaleOutResults['params']): string {
  const perNode = params.notifications.publishersPerNode;
  if (params.turns) return `${perNode ?? 3} connections on every node, by turns (one node's publishers at a time, each for its share of the window, 5 s at least, after its own warm-up)`;
  return perNode === undefined ? 'connections spread over the nodes (one per node, at least 3 in all)' : `${perNode} connections on every node`;
}

type Capacities = ReturnType<typeof capacities>;

/** One Kuzzle's capacities, and its RSS per 100k subscriptions for each reading. */
interface Baseline {
  capacities: Capacities;
  rss: Record<RssReading, number | undefined>;
}

/** What every ratio is taken against: the mean of one Kuzzle's readings (see {@link baselineReadings}). */
function baselineOf(results: ScaleOutResults): Baseline {
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
    rss: {
      quiet: meanOf(readings.map((record) => max(rssPer100k(record, subscriptions, 'quiet')))),
      collected: meanOf(readings.map((record) => max(rssPer100k(record, subscriptions, 'collected')))),
      burst: meanOf(readings.map((record) => max(rssPer100k(record, subscriptions, 'burst')))),
    },
  };
}

/** The rows of a run's tables: every size, then one Kuzzle again when it was measured twice. */
function rowsOf(results: ScaleOutResults): Array<{ label: string; record: SizeRecord }> {
  const rows = results.sizes.map((record) => ({ label: String(record.nodes), record }));
  if (results.baselineAgain) rows.push({ label: '1 (again, last)', record: results.baselineAgain });
  return rows;
}

/** Three cells of heap growth per node: live, committed, young generation ('–' where not read). */
function heapCells(heap: HeapReading[] | undefined): string {
  return [readCell((heap ?? []).map((h) => h.usedMb)), readCell((heap ?? []).map((h) => h.totalMb)), readCell((heap ?? []).map((h) => h.youngMb))].join(' | ');
}

/** The control's rows: N Kuzzles without the plugin, not a cluster (runs before the control have none). */
function controlRowsOf(results: ScaleOutResults): Array<{ label: string; record: SizeRecord }> {
  return (results.controls ?? []).map((record) => ({ label: `${record.nodes}, control`, record }));
}

/**
 * The control against one Kuzzle and the cluster of the same size: what
 * this machine gives N processes that add and share nothing, and what the
 * cluster keeps of it.
 */
function controlSection(results: ScaleOutResults, baseline: Baseline): string[] {
  const controls = results.controls ?? [];
  if (controls.length === 0) return [];
  const { subscriptions } = results.params;
  const { capacities: base, rss: baseRss } = baseline;
  const ratio = (value: number | undefined, of: number | undefined): string => ratioText(value, of, '–');
  const reading = judgedReading(controls[0] as SizeRecord);
  const lines = [
    '',
    '## Control: as many Kuzzles without the plugin, not a cluster',
    '',
    `After each cluster size, the same subscription load, spread the same way, on as many Kuzzle nodes without the plugin, each its own realtime engine (they share Redis and Elasticsearch, not subscriptions: not a usable cluster); then the room-per-node notifications, each publisher writing to its own node's collection only (every change published where its subscribers are: nothing crosses nodes, as if the load were sharded perfectly). Each holds only its own subscriptions and nothing is added to them, so what they reach is what this machine gives that many processes sharing its ${results.environment.cores} cores: the ceiling for the cluster here. "vs 1" is against one Kuzzle as above; "cluster ÷ control" is what the cluster of the same size keeps of that ceiling. The young generation is what V8 keeps committed for new objects after the burst (it grows to its maximum under load and a full collection does not shrink it): a per-process amount that does not depend on the subscriptions held.`,
    '',
    '| nodes | subscribe (/s) | vs 1 | cluster ÷ control | unsubscribe (/s) | vs 1 | cluster ÷ control | notifications delivered, room per node, each change published on the node of its room (/s) | vs 1 | cluster ÷ control | RSS per node for 100k subscriptions (MB, largest, read as the target is judged) | vs 1 | cluster ÷ control | young generation growth per node, garbage collected, control (MB) | the same, cluster (MB) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const control of controls) {
    const cluster = results.sizes.find((record) => record.nodes === control.nodes);
    const c = capacities(control);
    const k = cluster ? capacities(cluster) : {};
    const rss = max(rssPer100k(control, subscriptions, reading));
    const clusterRss = cluster ? max(rssPer100k(cluster, subscriptions, reading)) : undefined;
    const young = (record: SizeRecord | undefined): string => readCell((record?.subscriptions?.heapGrowth ?? []).map((h) => h.youngMb));
    lines.push(
      `| ${control.nodes}${control.error ? ` (failed: ${control.error.split('\n')[0]})` : ''} | ${show(c.subscribe, 0)} | ${ratio(c.subscribe, base.subscribe)} | ${ratio(k.subscribe, c.subscribe)} | ${show(c.unsubscribe, 0)} | ${ratio(c.unsubscribe, base.unsubscribe)} | ${ratio(k.unsubscribe, c.unsubscribe)} | ${show(c.partitioned, 0)} | ${ratio(c.partitioned, base.partitioned)} | ${ratio(k.partitioned, c.partitioned)} | ${show(rss, 1)} | ${ratio(rss, baseRss[reading])} | ${ratio(clusterRss, rss)} | ${young(control)} | ${young(cluster)} |`,
    );
  }
  return lines;
}

/**
 * The shared Redis's share: its CPU per operation, and the rate one Redis
 * core allows, against one Kuzzle's capacity (runs before 2026-12-06 22:00
 * did not read it).
 */
function redisSection(results: ScaleOutResults, base: Capacities): string[] {
  // One Kuzzle alone keeps no shared state there: only clusters have a row.
  const rows = rowsOf(results).filter(({ record }) => record.nodes > 1 && record.subscriptions?.subscribe.redis !== undefined);
  if (rows.length === 0) return [];
  const lines = [
    '',
    '## The shared Redis',
    '',
    `Every node of a cluster writes its rooms to one Redis (the plugin's shared state; one Kuzzle alone uses it for its own cache only): what one Redis core allows = operations ÷ Redis's CPU seconds over the phase (idle subtracted), against one Kuzzle's capacity. When it is below a size's capacity above, Redis, not the nodes, caps that size (a Redis Cluster spreads that work over its shards). Notifications do not go through Redis: its CPU over those phases is in the raw numbers below.`,
    '',
    '| nodes | Redis CPU per subscription (µs) | subscriptions one Redis core allows (/s) | vs one Kuzzle | per unsubscription (µs) | unsubscriptions (/s) | vs one Kuzzle |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const perOp = (cost: PhaseCost | undefined): number | undefined => (cost?.redis && cost.operations > 0 ? (cost.redis.busySeconds * 1e6) / cost.operations : undefined);
  const allows = (cost: PhaseCost | undefined): number | undefined => (cost?.redis && cost.redis.busySeconds > 0 ? cost.operations / cost.redis.busySeconds : undefined);
  for (const { label, record } of rows) {
    const cells = ([['subscribe', record.subscriptions?.subscribe], ['unsubscribe', record.subscriptions?.unsubscribe]] as const).map(
      ([kind, cost]) => `${show(perOp(cost), 1)} | ${show(allows(cost), 0)} | ${ratioText(allows(cost), base[kind], '')}`,
    );
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines;
}

/** Targets at 6 nodes against one node (issue 20). */
const TARGETS = { nodes: 6, subscribe: 4, unsubscribe: 4, notify: 4.5, rss: 0.25 };

/** bench/SCALE-OUT.md: derived capacities per size against one node, then every raw number they come from. */
export function scaleOutMarkdown(results: ScaleOutResults, plot: string): string {
  const { environment: env, params } = results;
  const one = baselineReadings(results).length > 0;
  const baseline = baselineOf(results);
  const { capacities: base, rss: baseRss } = baseline;
  const ratio = (value: number | undefined, of: number | undefined): string => ratioText(value, of, '');
  const rssCells = (record: SizeRecord): string =>
    (['quiet', 'collected', 'burst'] as const)
      .map((reading) => {
        const rss = max(rssPer100k(record, params.subscriptions, reading));
        return `${show(rss, 1)} | ${ratio(rss, baseRss[reading])}`;
      })
      .join(' | ');
  const lines = ['# Scale-out benchmark', ''];
  if (params.mode === 'quick') lines.push('> **Quick run**: small sizes, to check that the bench works. Not a measurement.', '');
  lines.push(
    `Run ${results.startedAt} → ${results.finishedAt}, commit \`${env.commit.slice(0, 12)}\`${env.dirty ? ' (with uncommitted changes)' : ''}; raw data: [results/${results.stamp}.json](results/${results.stamp}.json). Machine: ${env.cores} × ${env.cpuModel}, ${env.memoryGb} GB, load average ${env.loadStart} → ${env.loadEnd ?? '?'}. Kuzzle ${env.kuzzle} on Node ${env.kuzzleNode}, \`NODE_ENV=${env.kuzzleNodeEnv ?? 'development'}\`; ${params.workers} load workers.`,
    '',
    `Every node, Redis, Elasticsearch and the load share ${env.cores} cores, so wall-clock rates say little about more machines. What is measured instead is the CPU time each Kuzzle process spends (from /proc, less its idle rate measured before the cases), and the **capacity with a core per node** = operations ÷ the busiest node's CPU seconds: the rate the cluster would sustain if each node had a core of its own and the busiest one were the limit. Size 1 is one Kuzzle without the plugin.`,
    '',
    `Load: ${warmUpText(params)}${params.subscriptions.toLocaleString('en-US')} distinct subscriptions (one new room each, over 10 collections) from ${connectionsText(params)}, held (RSS read 1 s after the last answer; then once every node went quiet and V8's memory reducer gave the burst's memory back by itself, as an operator sees a node some 20 s to 2 minutes after a burst (the young generation back to its smallest, or 120 s at most: V8 runs its memory reducer some 8 to 20 s after the last full collection in a process it finds allocating little, else 100 s after it; runs before 2026-12-07 waited 60 s at most); then after a forced full garbage collection on every node; each against a baseline read the same way before the subscriptions. The bench loads a small file into each Kuzzle process for that, \`bench/scale-out/collect-on-signal.ts\`, which reports the node's V8 heap every second and right after a forced collection: live objects, what V8 keeps committed, and of that the young generation. The RSS target is judged on the quiet reading), then removed; then ${params.notifications.subscribers} subscribers of one room spread over the nodes and \`realtime:publish\` from ${publishersText(params)} (${params.notifications.publishWindow} in flight each), measured over ${params.notifications.durationMs / 1000} s; then the same with one room per node, each in its own collection (each node's subscribers on their own collection, publishers on every node writing to every collection by turns: a change interests one node, which is the only peer it is sent to).`,
    '',
    '## Capacity with a core per node',
    '',
    '| nodes | subscribe (/s) | vs 1 | unsubscribe (/s) | vs 1 | notifications delivered (/s) | vs 1 | the same, room per node (/s) | vs 1 | RSS per node for 100k subscriptions, node quiet (MB, largest) | vs 1 | the same, forced collection (MB) | vs 1 | the same, 1 s after the burst (MB) | vs 1 | evictions |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { label, record } of rowsOf(results)) {
    const c = capacities(record);
    lines.push(
      `| ${label}${record.error ? ` (failed: ${record.error.split('\n')[0]})` : ''} | ${show(c.subscribe, 0)} | ${ratio(c.subscribe, base.subscribe)} | ${show(c.unsubscribe, 0)} | ${ratio(c.unsubscribe, base.unsubscribe)} | ${show(c.notify, 0)} | ${ratio(c.notify, base.notify)} | ${show(c.partitioned, 0)} | ${ratio(c.partitioned, base.partitioned)} | ${rssCells(record)} | ${record.evictions ?? '–'} |`,
    );
  }
  if (results.baselineAgain) {
    lines.push('', `"vs 1" is against the mean of one Kuzzle's two readings, first and last of the run (the machine's speed drifts over a run; the two rows show by how much).`);
  }
  const at = results.sizes.find((record) => record.nodes === TARGETS.nodes);
  if (at && one) {
    const c = capacities(at);
    const reading = judgedReading(at);
    const rss = max(rssPer100k(at, params.subscriptions, reading));
    const check = (value: number | undefined, of: number | undefined, target: number, atMost = false): string => {
      if (value === undefined || !of) return 'not measured';
      const r = value / of;
      return `${show(r)}× (target ${atMost ? '≤' : '≥'} ${target}×): ${(atMost ? r <= target : r >= target) ? 'met' : '**missed**'}`;
    };
    lines.push(
      '',
      `Targets at ${TARGETS.nodes} nodes against one node: subscribe ${check(c.subscribe, base.subscribe, TARGETS.subscribe)}; unsubscribe ${check(c.unsubscribe, base.unsubscribe, TARGETS.unsubscribe)}; notifications ${check(c.notify, base.notify, TARGETS.notify)}; RSS per node (${{ quiet: 'node quiet', collected: 'forced collection', burst: '1 s after the burst' }[reading]}) ${check(rss, baseRss[reading], TARGETS.rss, true)}.`,
    );
  }
  lines.push(...controlSection(results, baseline), ...redisSection(results, base));
  lines.push(
    '',
    `![capacity against nodes](results/${plot})`,
    '',
    '## Raw numbers',
    '',
    'Per node, in node order. CPU in seconds over the phase as read from /proc (raw), the same less the idle rate × the phase\'s wall time (busy), and busy CPU per operation in µs; then the shared Redis\'s CPU over the phase, raw and busy. By turns, a phase\'s numbers are the sum of its turns.',
    '',
    '| nodes | phase | operations | wall (s) | CPU raw (s) | CPU busy (s) | CPU per operation (µs) | Redis CPU raw, busy (s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { label, record } of [...rowsOf(results), ...controlRowsOf(results)]) {
    const phases = [
      ['subscribe', record.subscriptions?.subscribe],
      ['unsubscribe', record.subscriptions?.unsubscribe],
      ['notifications delivered', record.notifications?.cost],
      ['notifications delivered, room per node', record.partitioned?.cost],
    ] as const;
    for (const [name, cost] of phases) {
      if (!cost) continue;
      lines.push(`| ${label} | ${name} | ${cost.operations} | ${show(cost.wallMs / 1000)} | ${list(cost.cpuSeconds)} | ${list(cost.busySeconds)} | ${list(cpuPerOperationUs(cost), 1)} | ${cost.redis ? list([cost.redis.cpuSeconds, cost.redis.busySeconds]) : '–'} |`);
    }
  }
  lines.push(
    '',
    'Memory growth per node with the subscriptions held, in MB, for each reading: RSS, then V8\'s heap (in use: live objects after a forced collection, garbage included in the quiet reading; committed; of that, the young generation).',
    '',
    '| nodes | idle CPU (% of a core) | RSS, node quiet | heap used, quiet (garbage included) | committed, quiet | young, quiet | wait for quiet (s: before, held; * = a node not reduced by then) | RSS, forced collection | heap live, forced | committed, forced | young, forced | RSS 1 s after the burst | publishes sent (one room, room per node) | request errors |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const { label, record } of [...rowsOf(results), ...controlRowsOf(results)]) {
    const held = record.subscriptions;
    const errors = (held?.errors ?? 0) + (record.notifications?.errors ?? 0) + (record.partitioned?.errors ?? 0);
    const published = [record.notifications?.published, record.partitioned?.published].filter((n) => n !== undefined).join(', ');
    const waits = held?.quiet ? held.quiet.waitedMs.map((ms, i) => `${show(ms / 1000, 0)}${held.quiet?.reduced[i]?.every(Boolean) === false ? '*' : ''}`).join(', ') : '–';
    lines.push(
      `| ${label} | ${list(record.idle.map((rate) => rate * 100), 1)} | ${list(held?.quiet?.rssGrowthMb ?? [], 1) || '–'} | ${heapCells(held?.quiet?.heapGrowth)} | ${waits} | ${list(held?.rssCollectedGrowthMb ?? [], 1) || '–'} | ${heapCells(held?.heapGrowth)} | ${list(held?.rssGrowthMb ?? [], 1)} | ${published || '–'} | ${errors}${held?.firstError ? ` (${held.firstError})` : ''} |`,
    );
  }
  if (results.hop && results.hop.length > 0) {
    lines.push('', 'Bare ZeroMQ hop between two Node processes (~600-byte JSON, one way, measured in this run): ' + results.hop.map((h) => `${h.rate}/s ${h.curve ? 'CURVE' : 'plain'} p50 ${show(h.p50)} ms, p99 ${show(h.p99)} ms`).join('; ') + '.');
  }
  return [...lines, ''].join('\n');
}

/** Each record's capacity of one kind against one Kuzzle's, as plot points. */
function relativePoints(records: SizeRecord[], kind: keyof Capacities, base: Capacities): Array<[number, number]> {
  return records.flatMap((record): Array<[number, number]> => {
    const value = capacities(record)[kind];
    const of = base[kind];
    return value !== undefined && of ? [[record.nodes, value / of]] : [];
  });
}

/** Capacity against cluster size, relative to one node, with the control's and the ideal line. */
export function capacityPlot(results: ScaleOutResults): string {
  const base = baselineOf(results).capacities;
  const names = { subscribe: 'subscribe', unsubscribe: 'unsubscribe', notify: 'notifications', partitioned: 'notifications, room per node' };
  const series = (['subscribe', 'unsubscribe', 'notify', 'partitioned'] as const).map((kind) => ({ name: names[kind], points: relativePoints(results.sizes, kind, base) }));
  const control = (['subscribe', 'unsubscribe'] as const)
    .map((kind) => ({ name: `${names[kind]}, control (no plugin, not a cluster)`, points: relativePoints(results.controls ?? [], kind, base) }))
    .filter((line) => line.points.length > 0);
  const sizes = results.sizes.map((record) => record.nodes);
  return lineChart('capacity with a core per node, relative to one Kuzzle', 'nodes', '× one node', [...series, ...control, { name: 'ideal (N×)', points: sizes.map((n): [number, number] => [n, n]) }]);
}
