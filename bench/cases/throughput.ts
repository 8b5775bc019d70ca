import { now } from '../load/clock';
import type { CaseContext, CaseOutput } from '../case-context';
import { rotated } from '../case-context';

/** Publishing connections, whatever the number of nodes. */
const PUBLISHERS = 3;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * (b) Delivered notifications per second: `subscribers` connections in one
 * room, spread over the nodes and over the workers other than worker 0;
 * worker 0 publishes as fast as the nodes answer over 3 connections (one per
 * node on the cluster), a window of requests in flight on each. Only deliveries inside the
 * measured window count.
 */
export async function throughputCase(ctx: CaseContext): Promise<CaseOutput> {
  const { side, pool, params } = ctx;
  const { subscribers, publishWindow, durationMs } = params.throughput;
  if (pool.workers.length < 2) throw new Error('the throughput case needs at least 2 load workers');
  const tag = `throughput-${Date.now()}`;
  const receivers = pool.workers.slice(1);
  const ports = side.ports();
  // One subscription per connection: a connection subscribing twice to a room gets the same channel.
  const share = (k: number): number => Math.floor(subscribers / receivers.length) + (k < subscribers % receivers.length ? 1 : 0);
  await Promise.all(receivers.map((worker, k) => worker.send({ type: 'connect', ports: rotated(ports, k), clients: share(k) })));
  await Promise.all(
    receivers.map((worker, k) => worker.send({ type: 'subscribe', tag, index: side.index, collections: ['c0'], filter: 'same', from: 0, to: share(k), window: 1 })),
  );
  const publisher = pool.worker(0);
  // The same publishing connections on both sides (spread over the nodes of a cluster), so that the offered load is the same.
  await publisher.send({ type: 'connect', ports, clients: PUBLISHERS });
  const startAt = now() + 300;
  const measureFrom = startAt + 1000;
  await Promise.all(receivers.map((worker) => worker.send({ type: 'arm', tag, from: measureFrom, to: measureFrom + durationMs })));
  const cpu = await pool.cpu();
  const flood = await publisher.send({ type: 'flood', tag, index: side.index, collections: ['c0'], window: publishWindow, startAt, durationMs: durationMs + 1000 });
  const measuredWorkerCpu = await cpu();
  await delay(1000);
  const collected = await Promise.all(receivers.map((worker) => worker.send({ type: 'collect', tag })));
  const delivered = collected.reduce((sum, c) => sum + c.count, 0);
  return {
    metrics: { maxWorkerCpu: Math.max(...measuredWorkerCpu.map((w) => w.percent)), deliveredPerSecond: Math.round((delivered * 1000) / durationMs), publishedPerSecond: Math.round((flood.sent * 1000) / (durationMs + 1000)) },
    details: { delivered, flood, measuredWorkerCpu },
  };
}
