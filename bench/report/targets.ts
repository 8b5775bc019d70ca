import type { BenchParams } from '../params';

/** A goal from issue 10: on the ratio cluster / single node, or on the cluster's value alone. */
export interface Target {
  kind: 'ratio' | 'absolute';
  op: '<=' | '>=';
  value: number;
}

/** One line of the results table. */
export interface RowSpec {
  case: string;
  metric: string;
  label: string;
  unit: string;
  target?: Target;
}

const ratio = (op: Target['op'], value: number): Target => ({ kind: 'ratio', op, value });
const absolute = (op: Target['op'], value: number): Target => ({ kind: 'absolute', op, value });

/** The table's rows, in order: every measured number, with the target where it sets one. */
export function rowSpecs(params: BenchParams): RowSpec[] {
  const rates = params.latency.rates;
  const held = (params.scale.levels[params.scale.levels.length - 1] ?? 0).toLocaleString('en-US');
  const fanout = (params.fanout.connections * params.fanout.roomsPerConnection).toLocaleString('en-US');
  const subscribers = params.throughput.subscribers;
  const latencyTargets: Record<number, { p50: number; p99: number }> = { 200: { p50: 1.2, p99: 1.3 }, 1000: { p50: 1.3, p99: 1.5 } };
  const rows: RowSpec[] = [];
  for (const rate of rates) {
    const goal = latencyTargets[rate];
    const name = `(a) latency at ${rate}/s`;
    rows.push({ case: `latency-${rate}`, metric: 'p50', label: `${name}, p50`, unit: 'ms', target: goal && ratio('<=', goal.p50) });
    rows.push({ case: `latency-${rate}`, metric: 'p90', label: `${name}, p90`, unit: 'ms' });
    rows.push({ case: `latency-${rate}`, metric: 'p99', label: `${name}, p99`, unit: 'ms', target: goal && ratio('<=', goal.p99) });
    rows.push({ case: `latency-${rate}`, metric: 'maxWorkerCpu', label: `${name}: busiest load worker while publishing`, unit: '% of a core' });
  }
  rows.push(
    { case: 'throughput', metric: 'deliveredPerSecond', label: `(b) notifications delivered, ${subscribers} subscribers`, unit: '/s', target: ratio('>=', 0.9) },
    { case: 'throughput', metric: 'publishedPerSecond', label: '(b) publishes answered meanwhile', unit: '/s' },
    { case: 'throughput', metric: 'maxWorkerCpu', label: '(b) busiest load worker while publishing', unit: '% of a core' },
    { case: 'subscribe', metric: 'subscribePerSecond', label: '(c) subscriptions to new rooms', unit: '/s', target: ratio('>=', 0.7) },
    { case: 'subscribe', metric: 'unsubscribePerSecond', label: '(c) unsubscriptions', unit: '/s', target: ratio('>=', 0.8) },
    { case: 'scale', metric: 'joinMs', label: `(d) join with ${held} subscriptions held: member → ready`, unit: 'ms', target: absolute('<=', 5000) },
    { case: 'scale', metric: 'joinReadyMs', label: `(d) join with ${held} subscriptions held: process start → ready`, unit: 'ms' },
    { case: 'scale', metric: 'joinEvictions', label: '(d) evictions during the joins (every level)', unit: '', target: absolute('<=', 0) },
    { case: 'scale', metric: 'listRooms', label: `(e) rooms listed (${held} subscriptions held)`, unit: '' },
    { case: 'scale', metric: 'listP50', label: '(e) realtime:list, p50', unit: 'ms', target: ratio('<=', 2) },
    { case: 'scale', metric: 'listP99', label: '(e) realtime:list, p99', unit: 'ms' },
    { case: 'scale', metric: 'listEvictions', label: '(e) evictions during the lists', unit: '', target: absolute('<=', 0) },
    { case: 'scale', metric: 'listMaxHeartbeatAgeMs', label: '(e) node 1 heard by node 2 at most every', unit: 'ms' },
    { case: 'scale', metric: 'countP50', label: '(e) realtime:count, p50', unit: 'ms', target: ratio('<=', 2) },
    { case: 'scale', metric: 'countP99', label: '(e) realtime:count, p99', unit: 'ms' },
    { case: 'kill', metric: 'detectionMaxMs', label: '(f) kill -9 dropped by every survivor (worst)', unit: 'ms', target: absolute('<=', 1000) },
    { case: 'kill', metric: 'detectionMs', label: '(f) kill -9 dropped by every survivor (median)', unit: 'ms' },
    { case: 'scale', metric: 'rssMbPer10k', label: '(g) RSS per 10k subscriptions (mean per node)', unit: 'MB' },
    { case: 'fanout', metric: 'allReceivedMs', label: `(h) fan-out to ${fanout} subscriptions: all notified`, unit: 'ms' },
    { case: 'fanout', metric: 'firstReceivedMs', label: `(h) fan-out to ${fanout} subscriptions: first notified`, unit: 'ms' },
    { case: 'fanout', metric: 'missing', label: `(h) fan-out to ${fanout} subscriptions: notifications missing`, unit: '' },
  );
  return rows;
}

/** Whether `value` (and its ratio to the single node) meets `target`; undefined when it cannot be told. */
export function verdict(target: Target, value: number | undefined, single: number | undefined): boolean | undefined {
  const measured = target.kind === 'ratio' ? (value !== undefined && single ? value / single : undefined) : value;
  if (measured === undefined || Number.isNaN(measured)) return undefined;
  return target.op === '<=' ? measured <= target.value : measured >= target.value;
}
