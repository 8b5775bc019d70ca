import { StateAvailability } from './availability';
import { delay } from '../util/delay';

/**
 * Failures that go away by themselves: a lost connection, a failover in
 * progress (CLUSTERDOWN, TRYAGAIN, a demoted master answering READONLY,
 * MASTERDOWN), a server still loading, ioredis giving up its own retries.
 * A domain error (KPC_*), a script error or wrong credentials are not.
 */
const TRANSIENT = new RegExp(
  [
    '^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY)\\b',
    'Connection is closed',
    'Too many Cluster redirections',
    "Cluster isn't ready",
    'Failed to refresh slots cache',
    'None of startup nodes is available',
    'Reached the max retries per request',
    'Command timed out',
    'Stream isn\'t writeable',
    '\\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH)\\b',
  ].join('|'),
);

export function isTransientRedisError(error: unknown): boolean {
  return error instanceof Error && TRANSIENT.test(error.message);
}

export interface RedisRetryOptions {
  /** How long one operation is retried before its error is returned (0: never retried). */
  maxMs: number;
  /** First pause; it doubles up to `maxDelayMs`. */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs one Redis operation again, with a growing pause, while it fails in a
 * transient way and the bound is not reached, reporting the period to
 * {@link StateAvailability}. Only wrap steps that may run twice: a write
 * whose reply was lost may have been applied (or lost in a failover); the
 * anti-entropy pass that runs once the state answers again corrects counts.
 */
export class RedisRetry {
  readonly availability: StateAvailability;

  constructor(
    private readonly options: RedisRetryOptions,
    availability?: StateAvailability,
  ) {
    this.availability = availability ?? new StateAvailability();
  }

  /** How long one operation is retried at most (ms). */
  get boundMs(): number {
    return this.options.maxMs;
  }

  /** A retry that never retries (tests of the store alone). */
  static none(): RedisRetry {
    return new RedisRetry({ maxMs: 0 });
  }

  async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let pause = this.options.firstDelayMs ?? 50;
    let token: object | undefined;
    for (;;) {
      try {
        const value = await operation();
        this.availability.succeeded(token);
        return value;
      } catch (error) {
        if (!isTransientRedisError(error) || Date.now() - started + pause > this.options.maxMs) {
          if (token) this.availability.abandoned(token);
          throw error;
        }
        token = this.availability.failed(what, error, token);
        // Jitter, so that the nodes of a cluster do not retry in step.
        await delay(pause / 2 + Math.random() * (pause / 2));
        pause = Math.min(pause * 2, this.options.maxDelayMs ?? 1000);
      }
    }
  }
}
