import type { ScaleLevel } from '../cases/scale';
import { recordOf, type BenchResults } from './results';
import { barChart, lineChart } from './svg';

/** The plots of a run: file name (in bench/results/) → SVG text. */
export function plots(results: BenchResults): Record<string, string> {
  const files: Record<string, string> = {};
  const sides = results.sides.map((side) => side.name);
  const rates = results.params.latency.rates;
  const groups = rates.flatMap((rate) => ['p50', 'p90', 'p99'].map((p) => `${rate}/s ${p}`));
  files[`${results.stamp}-latency.svg`] = barChart(
    '(a) notification latency percentiles, by publish rate',
    'ms',
    groups,
    sides.map((side) => ({
      name: side,
      values: rates.flatMap((rate) => ['p50', 'p90', 'p99'].map((p) => recordOf(results, side, `latency-${rate}`)?.metrics[p])),
    })),
  );
  const levels = (side: string): ScaleLevel[] => (recordOf(results, side, 'scale')?.details?.levels as ScaleLevel[] | undefined) ?? [];
  const clustered = results.sides.filter((side) => side.plugin !== undefined).map((side) => side.name);
  files[`${results.stamp}-join.svg`] = lineChart(
    '(d) a fourth node joining: time to ready vs subscriptions held',
    'subscriptions in the cluster',
    'ms',
    clustered.flatMap((side) => [
      { name: `${side}: member → ready`, points: levels(side).flatMap((l): Array<[number, number]> => (l.join ? [[l.subscriptions, l.join.joinMs]] : [])) },
      { name: `${side}: start → ready`, points: levels(side).flatMap((l): Array<[number, number]> => (l.join ? [[l.subscriptions, l.join.readyMs]] : [])) },
    ]),
    { value: 5000, label: 'target for member → ready: 5 s' },
  );
  files[`${results.stamp}-memory.svg`] = lineChart(
    '(g) RSS per node vs subscriptions (cluster: mean of its nodes, each holding a third)',
    'subscriptions (whole side)',
    'MB',
    sides.map((side) => ({ name: side, points: levels(side).map((l): [number, number] => [l.subscriptions, l.rssMb.reduce((a, b) => a + b, 0) / Math.max(1, l.rssMb.length)]) })),
  );
  files[`${results.stamp}-list-count.svg`] = barChart(
    '(e) realtime:list and realtime:count latency at the top level',
    'ms',
    ['list p50', 'list p99', 'count p50', 'count p99'],
    sides.map((side) => ({ name: side, values: ['listP50', 'listP99', 'countP50', 'countP99'].map((m) => recordOf(results, side, 'scale')?.metrics[m]) })),
  );
  return files;
}
