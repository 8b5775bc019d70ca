import { now } from '../load/clock';
import { median } from '../stats';
import type { CaseContext, CaseOutput } from '../case-context';
import { rotated } from '../case-context';

/**
 * (h) Fan-out: one change notifies `connections × roomsPerConnection`
 * subscriptions (each its own room, all matching the change), spread over
 * the nodes and the workers; the time is from the publish until the last
 * subscription got its notification, over several rounds.
 */
export async function fanoutCase(ctx: CaseContext): Promise<CaseOutput> {
  const { side, pool, params } = ctx;
  const { connections, roomsPerConnection, rounds } = params.fanout;
  const tag = `fanout-${Date.now()}`;
  const ports = side.ports();
  const share = (k: number): number => Math.floor(connections / pool.workers.length) + (k < connections % pool.workers.length ? 1 : 0);
  await pool.all((k) => ({ type: 'connect', ports: rotated(ports, k), clients: share(k) }));
  // Worker k's subscriptions are numbered from the connections before it, so every room is distinct.
  const firstOf = (k: number): number => Array.from({ length: k }, (_, j) => share(j)).reduce((a, b) => a + b, 0) * roomsPerConnection;
  const subscribed = await pool.all((k) => ({
    type: 'subscribe',
    tag,
    index: side.index,
    collections: ['c1'],
    filter: 'fanout',
    from: firstOf(k),
    to: firstOf(k) + share(k) * roomsPerConnection,
    window: 10,
  }));
  const total = subscribed.reduce((sum, s) => sum + s.subscribed, 0);
  if (total !== connections * roomsPerConnection) throw new Error(`${total} subscriptions, not ${connections * roomsPerConnection}: ${subscribed.find((s) => s.firstError)?.firstError}`);
  const client = await side.client();
  const allMs: number[] = [];
  const firstMs: number[] = [];
  let missing = 0;
  for (let round = 0; round < rounds; round++) {
    const waits = pool.all((k) => ({ type: 'waitCount', tag, expected: share(k) * roomsPerConnection, timeoutMs: 30_000 }));
    const sentAt = now();
    await client.realtime.publish(side.index, 'c1', { tag, t: sentAt });
    const got = await waits;
    missing += total - got.reduce((sum, g) => sum + g.count, 0);
    allMs.push(Math.max(...got.map((g) => g.lastAt ?? Number.NaN)) - sentAt);
    firstMs.push(Math.min(...got.map((g) => g.firstAt ?? Number.POSITIVE_INFINITY)) - sentAt);
  }
  return {
    metrics: { allReceivedMs: median(allMs), firstReceivedMs: median(firstMs), missing },
    details: { subscriptions: total, allMs, firstMs },
  };
}
