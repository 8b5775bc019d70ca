import { delay } from '../util/delay';
import { describeError } from '../util/describe-error';
import { TimeoutError, withTimeout } from '../util/with-timeout';
import type { Log } from '../util/log';

/** How often the drain looks at Kuzzle's in-flight requests. */
const DRAIN_POLL_MS = 50;
/**
 * How long no request may be in flight before the node leaves: Kuzzle counts
 * a request only once its rights are checked, so one accepted just before
 * the shutdown may not be counted yet.
 */
const DRAIN_QUIET_MS = 300;
/**
 * Longest drain: past it the node leaves with requests still running, so
 * that a request that never ends does not keep it a member (its heartbeats
 * sent, its subscriptions counted) until something kills the process.
 * Leaves room for `timers.leaveTimeout` within the 30 s most orchestrators
 * give a stop before SIGKILL.
 */
export const DRAIN_MAX_MS = 20_000;

/** What the graceful leave needs from Kuzzle 2.10's funnel. */
export interface FunnelLike {
  /**
   * Requests running. Not `remainingRequests`, which adds the requests
   * queued while Kuzzle was overloaded: after the shutdown Kuzzle never
   * runs those (it refuses them and tries again forever), so the count
   * would never come down.
   */
  concurrentRequests: number;
}

/**
 * Kuzzle's shutdown exits as soon as no request is in flight, without
 * awaiting hooks. Counting the leave as one more in-flight request holds the
 * exit until it is done: first the node drains (health 503, every change of
 * the requests still running is forwarded to peers), then it leaves
 * (bounded by `leaveTimeoutMs`), then Kuzzle may exit.
 */
export async function leaveGracefully(
  funnel: FunnelLike | undefined,
  node: { drain(): void; stop(): Promise<void> },
  leaveTimeoutMs: number,
  log: Log,
  drainMaxMs = DRAIN_MAX_MS,
): Promise<void> {
  const hold = funnel !== undefined && typeof funnel.concurrentRequests === 'number';
  if (hold) funnel.concurrentRequests++;
  try {
    node.drain();
    if (hold) {
      const started = Date.now();
      for (let quietSince = Date.now(); Date.now() - quietSince < DRAIN_QUIET_MS; ) {
        if (Date.now() - started >= drainMaxMs) {
          log('warn', `${funnel.concurrentRequests - 1} request(s) still running after ${drainMaxMs} ms of drain: leaving the cluster anyway`);
          break;
        }
        await delay(DRAIN_POLL_MS);
        // Only the leave itself may be left.
        if (funnel.concurrentRequests > 1) quietSince = Date.now();
      }
      log('info', `drained in ${Date.now() - started} ms: leaving the cluster`);
    }
    const stopping = node.stop();
    try {
      await withTimeout(stopping, leaveTimeoutMs);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      stopping.catch((late: unknown) => log('error', `leave failed: ${describeError(late)}`));
      log('warn', `leave not finished after ${leaveTimeoutMs} ms: exiting anyway (peers will evict this node)`);
    }
  } catch (error) {
    log('error', `leave failed: ${describeError(error)}`);
  } finally {
    if (hold) funnel.concurrentRequests--;
  }
}
