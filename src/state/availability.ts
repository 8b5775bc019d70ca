import { describeError } from '../util/describe-error';

/** What status shows about the reachability of the shared state. */
export interface AvailabilityStats {
  /** Since when (epoch ms) operations on the shared state have been failing and retried, if they are now. */
  degradedSince: number | undefined;
  /** The last failure seen while degraded. */
  degradedReason: string | undefined;
  /** Degraded periods since start (a failover, Redis restarting, a network cut). */
  periods: number;
  /** How long the last finished degraded period lasted (ms). */
  lastPeriodMs: number | undefined;
  /** The longest degraded period so far (ms). */
  longestPeriodMs: number;
  /** Operations retried because of a transient failure. */
  retried: number;
  /** Operations that still failed once their retry bound was reached. */
  gaveUp: number;
}

/**
 * Tracks whether the shared state answers: every operation that hits a
 * transient failure (and the periodic probe) holds a token until it
 * succeeds or gives up. A degraded period runs from the first failure until
 * an operation succeeds while none is failing: an operation that gave up
 * does not end it (the state did not answer), so that a long outage reaches
 * the health bound even when every operation in it gives up.
 */
export class StateAvailability {
  private readonly failing = new Set<object>();
  private readonly recoveredListeners: Array<(periodMs: number) => void> = [];
  private since: number | undefined;
  private reason: string | undefined;
  private periods = 0;
  private lastPeriodMs: number | undefined;
  private longestPeriodMs = 0;
  private retried = 0;
  private gaveUp = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** An operation failed and will be retried (or the probe failed): returns its token. */
  failed(what: string, error: unknown, token: object = {}): object {
    if (!this.failing.has(token)) this.retried++;
    this.failing.add(token);
    this.reason = `${what}: ${describeError(error)}`;
    if (this.since === undefined) {
      this.since = this.now();
      this.periods++;
    }
    return token;
  }

  /** An operation succeeded (`token`: the one it held while failing, if any). */
  succeeded(token?: object): void {
    if (token) this.failing.delete(token);
    if (this.since !== undefined) this.endIfClear();
  }

  /** The operation holding `token` stopped retrying (the caller gets the error); the period goes on. */
  abandoned(token: object): void {
    if (this.failing.delete(token)) this.gaveUp++;
  }

  /** The failure being retried, while degraded. */
  get currentReason(): string | undefined {
    return this.since === undefined ? undefined : this.reason;
  }

  /** Called with the period's length when a degraded period ends. */
  onRecovered(listener: (periodMs: number) => void): void {
    this.recoveredListeners.push(listener);
  }

  stats(): AvailabilityStats {
    return {
      degradedSince: this.since,
      degradedReason: this.currentReason,
      periods: this.periods,
      lastPeriodMs: this.lastPeriodMs,
      longestPeriodMs: this.longestPeriodMs,
      retried: this.retried,
      gaveUp: this.gaveUp,
    };
  }

  private endIfClear(): void {
    if (this.failing.size > 0 || this.since === undefined) return;
    const periodMs = this.now() - this.since;
    this.since = undefined;
    this.lastPeriodMs = periodMs;
    this.longestPeriodMs = Math.max(this.longestPeriodMs, periodMs);
    for (const listener of this.recoveredListeners) listener(periodMs);
  }
}
