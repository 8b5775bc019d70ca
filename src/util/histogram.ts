/** Upper bounds (seconds) of the latency buckets, Prometheus-style. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface HistogramSnapshot {
  /** Cumulative counts per upper bound, as Prometheus expects (`le`). */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

/** A latency histogram with fixed buckets: cheap to observe, no allocation per observation. */
export class Histogram {
  private readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private sum = 0;
  private count = 0;

  observe(seconds: number): void {
    const at = LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    if (at >= 0) this.counts[at] = (this.counts[at] ?? 0) + 1;
    this.sum += seconds;
    this.count += 1;
  }

  snapshot(): HistogramSnapshot {
    let cumulative = 0;
    const buckets = LATENCY_BUCKETS.map((bound, i): [number, number] => {
      cumulative += this.counts[i] ?? 0;
      return [bound, cumulative];
    });
    return { buckets, sum: this.sum, count: this.count };
  }
}
