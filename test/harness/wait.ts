import { describeError } from '../../src/util/describe-error';

/** Error raised when a condition polled by {@link waitFor} is still false at its deadline. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(what: string, timeoutMs: number, readonly lastError?: unknown) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${describeError(lastError)}` : ''}`);
  }
}

/** Thrown by a check to stop waiting at once (e.g. the process being waited on died). */
export class GiveUpError extends Error {
  override readonly name = 'GiveUpError';
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns a value other than `undefined`/`false`, or
 * throws at the deadline. A check that throws counts as "not yet" and its last
 * error is reported on timeout; a {@link GiveUpError} ends the wait at once.
 * Tests wait on conditions, never on fixed sleeps.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof GiveUpError) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, timeoutMs, lastError);
    await delay(intervalMs);
  }
}
