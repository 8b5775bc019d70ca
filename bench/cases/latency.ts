import { monotonicUs } from '../load/clock';
import { beside } from '../hop/bare-hop';
import { percentiles } from '../stats';
import type { CaseContext, CaseOutput } from '../case-context';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * (a) Notification latency at a fixed publish rate: one subscriber on node 1,
 * one publisher (`realtime:publish`, open loop) on node 2 of the cluster, or
 * on the same node for the single Kuzzle. Latency is the subscriber's clock
 * minus the time the publisher put in the message (same machine, same clock),
 * counted after a warm-up.
 *
 * The bare hop is measured beside it (see {@link beside}): the floor of a
 * change crossing processes under this very load, which the hop measured
 * on an idle machine is not.
 */
export async function latencyCase(ctx: CaseContext, rate: number): Promise<CaseOutput> {
  const { side, pool, params } = ctx;
  const { warmupMs, durationMs } = params.latency;
  const tag = `latency-${rate}-${Date.now()}`;
  const subscriber = pool.worker(0);
  const publisher = pool.worker(1);
  await subscriber.send({ type: 'connect', ports: [side.port(1)], clients: 1 });
  await publisher.send({ type: 'connect', ports: [side.clustered ? side.port(2) : side.port(1)], clients: 1 });
  const subscribed = await subscriber.send({ type: 'subscribe', tag, index: side.index, collections: ['c0'], filter: 'same', from: 0, to: 1, window: 1 });
  if (subscribed.errors > 0) throw new Error(`subscribe failed: ${subscribed.firstError}`);
  const { result, hop: hopBeside } = await beside(rate, warmupMs, durationMs, async (startAt) => {
    await subscriber.send({ type: 'arm', tag, from: startAt + warmupMs, to: startAt + warmupMs + durationMs });
    const cpu = await pool.cpu();
    const published = await publisher.send({ type: 'publish', tag, index: side.index, collection: 'c0', rate, startAt, durationMs: warmupMs + durationMs });
    return { startAt, published, measuredWorkerCpu: await cpu() };
  });
  const { startAt, published, measuredWorkerCpu } = result;
  // Late notifications of the window still count: let them arrive.
  await delay(1000);
  const received = await subscriber.send({ type: 'collect', tag });
  const stats = percentiles(received.latencies);
  return {
    metrics: {
      maxWorkerCpu: Math.max(...measuredWorkerCpu.map((w) => w.percent)),
      p50: stats.p50,
      p90: stats.p90,
      p99: stats.p99,
      received: received.count,
      hopBesideP50: hopBeside.p50,
      hopBesideP99: hopBeside.p99,
    },
    details: {
      rate,
      published,
      measuredWorkerCpu,
      expected: Math.round((rate * durationMs) / 1000),
      samples: stats.samples,
      hopBeside,
      // The measured window on the clock of CPU profiles (--profile).
      profileWindow: { fromUs: monotonicUs(startAt + warmupMs), toUs: monotonicUs(startAt + warmupMs + durationMs) },
      publisherNode: side.clustered ? 2 : 1,
      subscriberNode: 1,
    },
  };
}
