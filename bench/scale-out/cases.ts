import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { now, sleepUntil } from '../load/clock';
import type { WorkerPool } from '../load/pool';
import type { Replies } from '../load/protocol';
import { portField, subscribeDistinct } from '../case-context';
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
  /** The same two for the Redis every node shares (absent from runs before 2026-12-06 22:00). */
  redis?: { cpuSeconds: number; busySeconds: number };
}

/** CPU seconds per wall second of each node, and of the shared Redis, while nothing is asked of them. */
export interface IdleRates {
  nodes: number[];
  redis: number;
}

export async function idleRates(side: Side, ms: number): Promise<IdleRates> {
  const before = side.cpuSeconds();
  const redisBefore = side.redisCpuSeconds();
  const started = now();
  await sleepUntil(started + ms);
  const elapsed = (now() - started) / 1000;
  return { nodes: side.cpuSeconds().map((cpu, i) => (cpu - (before[i] ?? 0)) / elapsed), redis: (side.redisCpuSeconds() - redisBefore) / elapsed };
}

/** Brackets a phase with CPU readings of the nodes and of Redis. */
export function startPhase(side: Side, idle: IdleRates): (operations: number) => PhaseCost {
  const before = side.cpuSeconds();
  const redisBefore = side.redisCpuSeconds();
  const started = now();
  return (operations) => {
    const wallMs = now() - started;
    const busy = (cpu: number, rate: number | undefined): number => Math.max(0, cpu - (rate ?? 0) * (wallMs / 1000));
    const cpuSeconds = side.cpuSeconds().map((cpu, i) => cpu - (before[i] ?? 0));
    const redisCpu = side.redisCpuSeconds() - redisBefore;
    return { operations, wallMs, cpuSeconds, busySeconds: cpuSeconds.map((cpu, i) => busy(cpu, idle.nodes[i])), redis: { cpuSeconds: redisCpu, busySeconds: busy(redisCpu, idle.redis) } };
  };
}

/** Two phases' costs added up: the turns of one case, each measured alone. */
function addCosts(a: PhaseCost | undefined, b: PhaseCost): PhaseCost {
  if (!a) return b;
  const sum = (x: number[], y: number[]): number[] => x.map((value, i) => value + (y[i] ?? 0));
  return {
    operations: a.operations + b.operations,
    wallMs: a.wallMs + b.wallMs,
    cpuSeconds: sum(a.cpuSeconds, b.cpuSeconds),
    busySeconds: sum(a.busySeconds, b.busySeconds),
    ...(a.redis && b.redis ? { redis: { cpuSeconds: a.redis.cpuSeconds + b.redis.cpuSeconds, busySeconds: a.redis.busySeconds + b.redis.busySeconds } } : {}),
  };
}

/** How long the nodes may take to collect their garbage when asked. */
const COLLECT_TIMEOUT_MS = 30_000;

/**
 * Each node's RSS right after a full garbage collection (see
 * collect-on-signal.ts): a burst of requests leaves garbage in V8's heap,
 * which RSS counts until V8 collects it and gives pages back, tens of
 * seconds later or never; this reads it collected, the same way at every
 * size (one Kuzzle included), with V8's heap as each node reported it right
 * after collecting. (The RSS target is judged on {@link quietMemory}'s
 * reading: a forced collection leaves the young generation at its largest
 * and returns freed pages only later.)
 */
export async function collectedRss(side: Side): Promise<MemoryReading> {
  const dir = gcDir();
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
  return { rssMb: side.rssMb(), heap: pids.map((pid) => readHeap(join(dir, `${pid}.memory.json`)) ?? { usedMb: Number.NaN, totalMb: Number.NaN }) };
}

/** Each node's RSS (from /proc) and V8 heap (as the node reported it). */
export interface MemoryReading {
  rssMb: number[];
  heap: HeapReading[];
}

/** Where the nodes write their memory (see collect-on-signal.ts). */
function gcDir(): string {
  const dir = process.env.KPC_BENCH_GC_DIR;
  if (!dir) throw new Error('the nodes were not started to report their memory (KPC_BENCH_GC_DIR unset)');
  return dir;
}

/** A heap reading a node wrote (collect-on-signal.ts), undefined while there is none. */
function readHeap(file: string): HeapReading | undefined {
  try {
    const memory = JSON.parse(readFileSync(file, 'utf8')) as { heapUsed: number; heapTotal: number; youngGeneration: number };
    return { usedMb: memory.heapUsed / 1e6, totalMb: memory.heapTotal / 1e6, youngMb: memory.youngGeneration / 1e6 };
  } catch {
    return undefined;
  }
}

/**
 * How long a node may take to give a burst's memory back by itself: past
 * V8's watchdog. A process that V8 never finds allocating little (Kuzzle
 * 2.10 alone does not, with anonymous subscriptions held: it re-arms a
 * token timer every millisecond) gets its memory reducer's collections
 * only 100 s after its last full collection, checked every 8 s (runs
 * before 2026-12-07 read at 60 s, before the watchdog for most nodes).
 */
const QUIET_TIMEOUT_MS = 120_000;
/** A young generation this small (MB) has been shrunk by V8's memory reducer (at its largest it is 2 × 16 MB). */
const REDUCED_YOUNG_MB = 2;

/**
 * Each node's memory once V8 has given a burst's memory back by itself, as
 * an operator sees it on a node that went quiet: V8's memory reducer runs
 * collections of its own some 8 to 20 s after the last full one when the
 * process allocates little (else about 100 s after it), compacts the old generation and shrinks the
 * young one (which a forced collection leaves at its largest). Read when
 * every node's young generation is back to its smallest, or at the
 * deadline (`reduced` tells which nodes got there: with subscriptions held,
 * some node often has not).
 */
export async function quietMemory(side: Side): Promise<MemoryReading & { waitedMs: number; reduced: boolean[] }> {
  const dir = gcDir();
  const pids = side.pids();
  const started = now();
  const deadline = started + QUIET_TIMEOUT_MS;
  let heap = pids.map((pid) => readHeap(join(dir, `${pid}.memory-now.json`)));
  const reduced = (): boolean[] => heap.map((reading) => reading?.youngMb !== undefined && reading.youngMb <= REDUCED_YOUNG_MB);
  while (!reduced().every(Boolean) && now() < deadline) {
    await sleepUntil(now() + 1000);
    heap = pids.map((pid) => readHeap(join(dir, `${pid}.memory-now.json`)));
  }
  return { rssMb: side.rssMb(), heap: heap.map((reading) => reading ?? { usedMb: Number.NaN, totalMb: Number.NaN }), waitedMs: now() - started, reduced: reduced() };
}

/** What each node's heap grew by between two readings. */
function heapGrowth(after: HeapReading[], before: HeapReading[]): HeapReading[] {
  return after.map((heap, i) => {
    const from = before[i];
    return { usedMb: heap.usedMb - (from?.usedMb ?? 0), totalMb: heap.totalMb - (from?.totalMb ?? 0), youngMb: (heap.youngMb ?? 0) - (from?.youngMb ?? 0) };
  });
}

/** What each node's RSS grew by between two readings. */
const rssGrowth = (after: number[], before: number[]): number[] => after.map((rss, i) => rss - (before[i] ?? 0));

/**
 * V8's heap of a node as it reported it, in MB: what is in use (live
 * objects only right after a forced collection; garbage included in a quiet
 * reading), and what V8 keeps committed.
 */
export interface HeapReading {
  usedMb: number;
  totalMb: number;
  /** Of `totalMb`, the young generation's pages in memory (absent from runs before 2026-12-05 11:39). */
  youngMb?: number;
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
  /** Growth of each node's V8 heap over the same readings: live objects (`usedMb`), committed (`totalMb`), and of that the young generation (`youngMb`). */
  heapGrowth?: HeapReading[];
  /** RSS growth of each node 1 s after the last subscription was answered, in MB: with the burst's garbage not yet given back. */
  rssGrowthMb: number[];
  /**
   * Growth of each node's RSS and heap between two quiet readings (see
   * {@link quietMemory}), before the subscriptions and while they are held;
   * absent from runs before 2026-12-05 11:57.
   */
  quiet?: { rssGrowthMb: number[]; heapGrowth: HeapReading[]; waitedMs: number[]; reduced: boolean[][] };
  errors: number;
  firstError?: string;
}

/**
 * Distinct subscriptions (one new room each) from connections spread evenly
 * over the nodes, held while RSS is read, then removed. Each phase's CPU is
 * read once every request is answered and the nodes are quiet again.
 */
export async function subscriptionsCase(side: Side, pool: WorkerPool, params: ScaleOutParams, idle: IdleRates): Promise<SubscriptionsResult> {
  const ports = side.ports();
  const counts =
    params.connectionsPerNode === undefined
      ? pool.workers.map(() => connectionsPerWorker(ports.length, pool.workers.length, 2))
      : shareOut(params.connectionsPerNode * ports.length, pool.workers.length);
  const portsOf = spreadPorts(ports, counts);
  await pool.all((k) => ({ type: 'connect', ports: portsOf[k] ?? [], clients: counts[k] ?? 0 }));
  const tag = `scale-out-${Date.now()}`;
  await warmUp(side, pool, params, `${tag}-warm-up`);
  const quietBefore = await quietMemory(side);
  const rssBefore = side.rssMb();
  const rssBeforeCollected = await collectedRss(side);
  const subscribing = startPhase(side, idle);
  const subscribed = await subscribeAll(pool, side, tag, params, params.subscriptions);
  // Peers finish their share (acknowledgements, counts) after the last answer.
  await sleepUntil(now() + 1000);
  const subscribe = subscribing(params.subscriptions);
  const rssAfter = side.rssMb();
  const quietAfter = await quietMemory(side);
  const rssCollected = await collectedRss(side);
  const unsubscribing = startPhase(side, idle);
  const unsubscribed = await unsubscribeAll(pool, side, tag, params);
  // Removals reach the peers in batches after the answers.
  await sleepUntil(now() + 1000);
  const unsubscribe = unsubscribing(params.subscriptions);
  await pool.all({ type: 'disconnect' });
  return {
    subscribe,
    unsubscribe,
    rssGrowthMb: rssGrowth(rssAfter, rssBefore),
    rssCollectedGrowthMb: rssGrowth(rssCollected.rssMb, rssBeforeCollected.rssMb),
    heapGrowth: heapGrowth(rssCollected.heap, rssBeforeCollected.heap),
    quiet: {
      rssGrowthMb: rssGrowth(quietAfter.rssMb, quietBefore.rssMb),
      heapGrowth: heapGrowth(quietAfter.heap, quietBefore.heap),
      waitedMs: [quietBefore.waitedMs, quietAfter.waitedMs],
      reduced: [quietBefore.reduced, quietAfter.reduced],
    },
    errors: subscribed.reduce((sum, s) => sum + s.errors, 0) + unsubscribed.reduce((sum, u) => sum + u.errors, 0),
    firstError: subscribed.find((s) => s.firstError)?.firstError,
  };
}

/**
 * `count` distinct subscriptions spread over the nodes; by turns
 * (`--load turns`), each node's share through its own connections, one node
 * after the other.
 */
async function subscribeAll(pool: WorkerPool, side: Side, tag: string, params: ScaleOutParams, count: number, offset = 0): Promise<Array<Replies['subscribe']>> {
  if (!params.turns) return subscribeDistinct(pool, side, tag, offset, count, params.window);
  const ports = side.ports();
  const per = Math.ceil(count / ports.length);
  const replies: Array<Replies['subscribe']> = [];
  for (const [i, port] of ports.entries()) {
    const first = i * per;
    replies.push(...(await subscribeDistinct(pool, side, tag, offset + first, Math.max(0, Math.min(count, first + per) - first), params.window, port)));
  }
  return replies;
}

/** The node each turn goes to: by turns, each node's port in order; else one turn over every node (no port). */
const turnPorts = (params: ScaleOutParams, side: Side): Array<number | undefined> => (params.turns ? side.ports() : [undefined]);

/** Removes the tag's subscriptions; by turns, one node's after the other's. */
async function unsubscribeAll(pool: WorkerPool, side: Side, tag: string, params: ScaleOutParams): Promise<Array<Replies['unsubscribe']>> {
  const replies: Array<Replies['unsubscribe']> = [];
  for (const port of turnPorts(params, side)) replies.push(...(await pool.all({ type: 'unsubscribe', tag, window: params.window, ...portField(port) })));
  return replies;
}

/** Where the warm-up's filter numbers start: above any measured subscription's. */
const WARM_UP_OFFSET = 10_000_000;

/**
 * Each node makes and removes its {@link ScaleOutParams.warmupPerNode}
 * subscriptions the way the measured ones are made, unmeasured: what a node
 * costs per subscription is then that of a process running its optimised
 * code, as it does once it has served for a while, at every size alike.
 */
async function warmUp(side: Side, pool: WorkerPool, params: ScaleOutParams, tag: string): Promise<void> {
  const count = (params.warmupPerNode ?? 0) * side.ports().length;
  if (count === 0) return;
  // Filters of their own (none of the measured rooms'): nothing Kuzzle may keep of them makes a measured subscription cheaper.
  await subscribeAll(pool, side, tag, params, count, WARM_UP_OFFSET);
  await unsubscribeAll(pool, side, tag, params);
  await side.waitNoRooms();
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
 * Where the publishers write: every collection of the layout by turns (a
 * change then reaches its room wherever it is), or each publisher the
 * collection of its own node only (the control of `room per node`: each
 * change published where its subscribers are, nothing crossing nodes).
 */
export type PublishTarget = 'every collection' | 'own collection';

/**
 * Notification throughput: `subscribers` connections spread over the nodes
 * (workers 1..n), in rooms laid out as `layout` says, publishers on every
 * node (worker 0, a multiple of the node count and at least 3 connections,
 * each keeping a window of `realtime:publish` in flight, over the rooms'
 * collections by turns). CPU is read over the measured window only.
 */
export async function notificationsCase(side: Side, pool: WorkerPool, params: ScaleOutParams, idle: IdleRates, layout: RoomLayout = 'one room', publishTo: PublishTarget = 'every collection'): Promise<NotificationsResult> {
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
  const publishing = publishers === undefined ? connectionsPerWorker(ports.length, 1, 3) : publishers * ports.length;
  await publisher.send({ type: 'connect', ports, clients: publishing });
  // The publisher's clients go round-robin over the nodes (see spreadPorts).
  const collectionOfClient = publishTo === 'own collection' ? (spreadPorts(ports, [publishing])[0] ?? []).map(collectionOf) : undefined;
  // By turns: the publishers of one node at a time, each for a share of the window.
  const turns = turnPorts(params, side);
  const turnMs = params.turns ? Math.max(MIN_TURN_MS, durationMs / ports.length) : durationMs;
  let cost: PhaseCost | undefined;
  let published = 0;
  let errors = 0;
  for (const port of turns) {
    const startAt = now() + 300;
    const from = startAt + warmupMs;
    await Promise.all(receivers.map((worker) => worker.send({ type: 'arm', tag, from, to: from + turnMs })));
    const flood = publisher.send({ type: 'flood', tag, index: side.index, collections, collectionOfClient, window: publishWindow, startAt, durationMs: warmupMs + turnMs, ...portField(port) });
    await sleepUntil(from);
    const measuring = startPhase(side, idle);
    await sleepUntil(from + turnMs);
    const window = measuring(0);
    const flooded = await flood;
    // Notifications of the window still on their way count.
    await sleepUntil(now() + 1000);
    const collected = await Promise.all(receivers.map((worker) => worker.send({ type: 'collect', tag })));
    cost = addCosts(cost, { ...window, operations: collected.reduce((sum, c) => sum + c.count, 0) });
    published += flooded.sent;
    errors += flooded.errors;
  }
  await pool.all({ type: 'disconnect' });
  if (!cost) throw new Error('the notifications case measured nothing');
  return { cost, published, errors };
}

/** `--load turns`: the shortest measured window of one node's publishers. */
const MIN_TURN_MS = 5000;
