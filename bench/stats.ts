/** Percentile `p` (0–100) of `values`, nearest rank; undefined when empty. */
export function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(values: number[]): number | undefined {
  return percentile(values, 50);
}

/** p50/p90/p99 in ms, rounded to 0.01 ms. */
export function percentiles(values: number[]): { p50?: number; p90?: number; p99?: number; samples: number } {
  const at = (p: number): number | undefined => round2(percentile(values, p));
  return { p50: at(50), p90: at(90), p99: at(99), samples: values.length };
}

export function round2(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.round(value * 100) / 100;
}

/** Least-squares slope of y over x (undefined with fewer than two distinct x). */
export function slope(points: Array<[number, number]>): number | undefined {
  if (points.length < 2) return undefined;
  const n = points.length;
  const mx = points.reduce((sum, [x]) => sum + x, 0) / n;
  const my = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxx = points.reduce((sum, [x]) => sum + (x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  return points.reduce((sum, [x, y]) => sum + (x - mx) * (y - my), 0) / sxx;
}
