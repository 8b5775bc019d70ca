import { now } from '../load/clock';
import type { CaseContext, CaseOutput } from '../case-context';
import { rotated, subscribeDistinct } from '../case-context';

/** Subscription numbers of this case start here, away from the scale case's rooms. */
const FIRST = 10_000_000;

/**
 * (c) Subscriptions to new rooms per second, then unsubscriptions per
 * second: every worker's connections (spread over the nodes) subscribe to
 * rooms of their own, `window` requests in flight per connection; the rate is
 * rooms over the wall time of the slowest worker.
 */
export async function subscribeCase(ctx: CaseContext): Promise<CaseOutput> {
  const { side, pool, params } = ctx;
  const { rooms, clientsPerWorker, window } = params.subscribe;
  const tag = `subscribe-${Date.now()}`;
  const ports = side.ports();
  await pool.all((k) => ({ type: 'connect', ports: rotated(ports, k), clients: clientsPerWorker }));
  const started = now();
  const subscribed = await subscribeDistinct(pool, side, tag, FIRST, rooms, window);
  const subscribeMs = now() - started;
  const errors = subscribed.reduce((sum, s) => sum + s.errors, 0);
  const unsubscribeStarted = now();
  const unsubscribed = await pool.all({ type: 'unsubscribe', tag, window });
  const unsubscribeMs = now() - unsubscribeStarted;
  return {
    metrics: {
      subscribePerSecond: Math.round((rooms * 1000) / subscribeMs),
      unsubscribePerSecond: Math.round((rooms * 1000) / unsubscribeMs),
      errors: errors + unsubscribed.reduce((sum, u) => sum + u.errors, 0),
    },
    details: { rooms, subscribeMs, unsubscribeMs, firstError: subscribed.find((s) => s.firstError)?.firstError },
  };
}
