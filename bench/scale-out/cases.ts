import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { now, sleepUntil } from '../load/clock';
import type { WorkerPool } from '../load/pool';
import { subscribeDistinct } from '../case-context';
import { COLLECTIONS, type Side } from '../side';
import type { ScaleOutParams } from './params';
import { connectionsPerWorker, shareOut, spreadPorts } from './spread';

/** What one phase cost each node: CPU seconds (raw, then less the node's idle rate over the phase). */
export interface PhaseCost {
  operations: number;
  wallMs: number;
  cpuSeconds: number[];
  /** `cpuSeconds` minus what the node spends idle over the same time. */
  busySeconds: number[];
}

/** CPU seconds per wall second of each node while nothing is asked of it. */
export async function idleRates(side: Side, ms: number): Promise<number[]> {
  const before = side.cpuSeconds();
  const started = now();
  await sleepUntil(started + ms);
  const elapsed = (now() - started) / 1000;
  return side.cpuSeconds().map((cpu, i) => (cpu - (before[i] ?? 0)) / elapsed);
}

/** Brackets a phase with CPU readings of the nodes. */
export function startPhase(side: Side, idle: number[]): (operations: number) => PhaseCost {
  const before = side.cpuSeconds();
  const started = now();
  return (operations) => {
    const wallMs = now() - started;
    const cpuSeconds = side.cpuSeconds().map((cpu, i) => cpu - (before[i] ?? 0));
    return { operations, wallMs, cpuSeconds, busySeconds: cpuSeconds.map((cpu, i) => Math.max(0, cpu - (idle[i] ?? 0) * (wallMs / 1000))) };
  };
}

/** How long the nodes may take to collect their garbage when asked. */
const COLLECT_TIMEOUT_MS = 30_000;

/**
 * Each node's RSS right after a full garbage collection (see
 * collect-on-signal.ts): a burst of requests leaves garbage in V8's heap,
 * which RSS counts until V8 collects it and gives pages back, tens of
 * seconds later or never; what holding the subscriptions costs is read
 * with it collected, the same way at every size (one Kuzzle included).
 * With it, V8's heap as each node reported it right after collecting.
 */
export async function collectedRss(side: Side): Promise<{ rssMb: number[]; heap: HeapReading[] }> {
  const dir = process.env.KPC_BENCH_GC_DIR;
  if (!dir) throw new Error('the nodes were not started to collect garbage on demand (KPC_BENCH_GC_DIR unset)');
  const marker = (pid: number): number => {
    try {
      return Number(readFileSync(join(dir, `${pid}.collected`), 'utf8'));
    } catch {
      return 0;
    }
  };
  const pids = side.pids();
  const before = pids.map(marker);
  const notYet = (): number[] => pids.filter((pid, i) => marker(pid) <= (before[i] ?? 0));
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  const deadline = now() + COLLECT_TIMEOUT_MS;
  for (let waiting = notYet(); waiting.length > 0; waiting = notYet()) {
    if (now() > deadline) throw new Error(`nodes ${waiting.join(', ')} did not collect their garbage within ${COLLECT_TIMEOUT_MS} ms`);
    await sleepUntil(now() + 50);
  }
  const heap = pids.map((pid): HeapReading => {
    const memory = JSON.parse(readFileSync(join(dir, `${pid}.memory.json`), 'utf8')) as { heapUsed: number; heapTotal: number };
    return { usedMb: memory.heapUsed / 1e6, totalMb: memory.heapTotal / 1e6 };
  });
  return { rssMb: side.rssMb(), heap };
}

/** V8's heap of a node right after a full garbage collection, in MB: what is live, and what V8 keeps committed. */
export interface HeapReading {
  usedMb: number;
  totalMb: number;
}

export interface SubscriptionsResult {
  subscribe: PhaseCost;
  unsubscribe: PhaseCost;
  /**
   * RSS growth of each node while the subscriptions are held, in MB, both
   * readings taken after a full garbage collection (see {@link collectedRss});
   * absent from runs before it existed.
   */
  rssCollectedGrowthMb?: number[];
  /** Growth of each node's V8 heap over the same readings: live objects (`usedMb`) and committed (`totalMb`). */
  heapGrowth?: HeapReading[];
  /** RSS growth of each node 1 s after the last subscription was answered, in MB: with the burst's garbage not yet given back. */
  rssGrowthMb: number[];
  errors: number;
  firstError?: string;
}

/**
 * Distinct subscriptions (one new room each) from connections spread evenly
 * over the nodes, held while RSS is read, then removed. Each phase's CPU is
 * read once every request is answered and the nodes are quiet again.
 */
export async function subscriptionsCase(side: Side, pool: WorkerPool, params: ScaleOutParams, idle: number[]): Promise<SubscriptionsResult> {
  const ports = side.ports();
  const counts =
    params.connectionsPerNode === undefined
      ? pool.workers.map(() => connectionsPerWorker(ports.length, pool.workers.length, 2))
      : shareOut(params.connectionsPerNode * ports.length, pool.workers.length);
  const portsOf = spreadPorts(ports, counts);
  await pool.all((k) => ({ type: 'connect', ports: portsOf[k] ?? [], clients: counts[k] ?? 0 }));
  const tag = `scale-out-${Date.now()}`;
  const rssBefore = side.rssMb();
  const rssBeforeCollected = await collectedRss(side);
  const subscribing = startPhase(side, idle);
  const subscribed = await subscribeDistinct(pool, side, tag, 0, params.subscriptions, params.window);
  // Peers finish their share (acknowledgements, counts) after the last answer.
  await sleepUntil(now() + 1000);
  const subscribe = subscribing(params.subscriptions);
  const rssAfter = side.rssMb();
  const rssCollected = await collectedRss(side);
  const unsubscribing = startPhase(side, idle);
  const unsubscribed = await pool.all({ type: 'unsubscribe', tag, window: params.window });
  // Removals reach the peers in batches after the answers.
  await sleepUntil(now() + 1000);
  const unsubscribe = unsubscribing(params.subscriptions);
  await pool.all({ type: 'disconnect' });
  return {
    subscribe,
    unsubscribe,
    rssGrowthMb: rssAfter.map((rss, i) => rss - (rssBefore[i] ?? 0)),
    rssCollectedGrowthMb: rssCollected.rssMb.map((rss, i) => rss - (rssBeforeCollected.rssMb[i] ?? 0)),
    heapGrowth: rssCollected.heap.map((heap, i) => ({ usedMb: heap.usedMb - (rssBeforeCollected.heap[i]?.usedMb ?? 0), totalMb: heap.totalMb - (rssBeforeCollected.heap[i]?.totalMb ?? 0) })),
    errors: subscribed.reduce((sum, s) => sum + s.errors, 0) + unsubscribed.reduce((sum, u) => sum + u.errors, 0),
    firstError: subscribed.find((s) => s.firstError)?.firstError,
  };
}

export interface NotificationsResult {
  /** Over the measured window: `operations` = notifications delivered. */
  cost: PhaseCost;
  published: number;
  errors: number;
}

/**
 * Where the notified subscribers are: all in one room spread over the
 * nodes, or one room per node, each in its own collection (a node's
 * clients on their own collection: a change then interests one node).
 */
export type RoomLayout = 'one room' | 'room per node';

/**
 * Notification throughput: `subscribers` connections spread over the nodes
 * (workers 1..n), in rooms laid out as `layout` says, publishers on every
 * node (worker 0, a multiple of the node count and at least 3 connections,
 * each keeping a window of `realtime:publish` in flight, over the rooms'
 * collections by turns). CPU is read over the measured window only.
 */
export async function notificationsCase(side: Side, pool: WorkerPool, params: ScaleOutParams, idle: number[], layout: RoomLayout = 'one room'): Promise<NotificationsResult> {
  const { subscribers, publishWindow, warmupMs, durationMs } = params.notifications;
  if (pool.workers.length < 2) throw new Error('the notifications case needs at least 2 load workers');
  const ports = side.ports();
  const receivers = pool.workers.slice(1);
  const share = shareOut(subscribers, receivers.length);
  const portsOf = spreadPorts(ports, share);
  const tag = `scale-out-notify-${Date.now()}`;
  await Promise.all(receivers.map((worker, k) => worker.send({ type: 'connect', ports: portsOf[k] ?? [], clients: share[k] ?? 0 })));
  // A node's own collection: the bench's collections, one per node.
  const collectionOf = (port: number): string => (layout === 'one room' ? 'c0' : (COLLECTIONS[ports.indexOf(port) % COLLECTIONS.length] as string));
  const collections = [...new Set(ports.map(collectionOf))];
  await Promise.all(
    receivers.map((worker, k) =>
      worker.send({ type: 'subscribe', tag, index: side.index, collections, collectionOfClient: (portsOf[k] ?? []).map(collectionOf), filter: 'same', from: 0, to: share[k] ?? 0, window: 1 }),
    ),
  );
  const publisher = pool.worker(0);
  const publishers = params.notifications.publishersPerNode;
  await publisher.send({ type: 'connect', ports, clients: publishers === undefined ? connectionsPerWorker(ports.length, 1, 3) : publishers * ports.length });
  const startAt = now() + 300;
  const from = startAt + warmupMs;
  await Promise.all(receivers.map((worker) => worker.send({ type: 'arm', tag, from, to: from + durationMs })));
  const flood = publisher.send({ type: 'flood', tag, index: side.index, collections, window: publishWindow, startAt, durationMs: warmupMs + durationMs });
  await sleepUntil(from);
  const measuring = startPhase(side, idle);
  await sleepUntil(from + durationMs);
  const window = measuring(0);
  const { sent, errors } = await flood;
  // Notifications of the window still on their way count.
  await sleepUntil(now() + 1000);
  const collected = await Promise.all(receivers.map((worker) => worker.send({ type: 'collect', tag })));
  await pool.all({ type: 'disconnect' });
  return { cost: { ...window, operations: collected.reduce((sum, c) => sum + c.count, 0) }, published: sent, errors };
}
