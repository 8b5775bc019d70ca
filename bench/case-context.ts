import type { WorkerCpu, WorkerPool } from './load/pool';
import type { Replies } from './load/protocol';
import type { BenchParams } from './params';
import { COLLECTIONS, type Side } from './side';

export interface CaseContext {
  side: Side;
  pool: WorkerPool;
  params: BenchParams;
  log: (message: string) => void;
}

/** What a case measured on one side: numbers for the table, anything else for the raw JSON and the plots. */
export interface CaseOutput {
  metrics: Record<string, number | undefined>;
  details?: Record<string, unknown>;
}

export interface CaseRecord extends CaseOutput {
  side: string;
  case: string;
  durationMs: number;
  /** Share of one core each load worker used during the case (near 100: the load generator was the limit). */
  workerCpu: WorkerCpu[];
  /** Share of one core each Kuzzle node used during the case. */
  nodeCpu: number[];
  error?: string;
}

/** Runs one case on one side, bracketing it with CPU readings of the workers and the nodes. */
export async function runCase(name: string, ctx: CaseContext, body: (ctx: CaseContext) => Promise<CaseOutput>): Promise<CaseRecord> {
  ctx.log(`[${ctx.side.spec.name}] ${name}`);
  const started = Date.now();
  const workerCpu = await ctx.pool.cpu();
  const nodeCpuBefore = ctx.side.cpuSeconds();
  let output: CaseOutput = { metrics: {} };
  let error: string | undefined;
  try {
    output = await body(ctx);
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    ctx.log(`[${ctx.side.spec.name}] ${name} failed: ${error}`);
  } finally {
    // A failed case must not leave connections or subscriptions to the next one.
    await ctx.pool.all({ type: 'disconnect' }).catch(() => undefined);
    await ctx.side.waitNoRooms().catch((caught: unknown) => ctx.log(`[${ctx.side.spec.name}] ${String(caught)}`));
  }
  const durationMs = Date.now() - started;
  const nodeCpu = ctx.side.cpuSeconds().map((seconds, i) => Math.round((1000 * (seconds - (nodeCpuBefore[i] ?? 0)) * 100) / durationMs * 10) / 10);
  return { side: ctx.side.spec.name, case: name, durationMs, workerCpu: await workerCpu(), nodeCpu, error, ...output };
}

/** Ports rotated by `k`: worker k's first connection goes to node k+1, so connections spread evenly over nodes. */
export function rotated(ports: number[], k: number): number[] {
  return ports.map((_, i) => ports[(i + k) % ports.length] as number);
}

/**
 * Subscriptions `first` .. `first + count` (exclusive), one new room each
 * over the bench's collections, split evenly between the workers, `window`
 * requests in flight per connection; with `port`, through the workers'
 * connections to that node only.
 */
export function subscribeDistinct(pool: WorkerPool, side: Side, tag: string, first: number, count: number, window: number, port?: number): Promise<Array<Replies['subscribe']>> {
  const per = Math.ceil(count / pool.workers.length);
  return pool.all((k) => ({
    type: 'subscribe',
    tag,
    index: side.index,
    collections: COLLECTIONS,
    filter: 'distinct',
    from: first + k * per,
    to: first + Math.min(count, (k + 1) * per),
    window,
    ...portField(port),
  }));
}

/** A load message's `port` field: none sends through the workers' connections to every node. */
export const portField = (port: number | undefined): { port?: number } => (port === undefined ? {} : { port });
