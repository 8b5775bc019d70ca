/** Resolves on the next turn of the event loop, after pending I/O and timers. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * For a loop that may keep the event loop busy (a flood of messages, a big
 * batch): `pace()` yields once `everyMs` have passed since the event loop
 * last ran, so that timers and I/O (heartbeats, health checks) keep their
 * pace. `ran()` tells it the loop waited for I/O meanwhile (the event loop
 * ran then): an idle loop never yields for nothing.
 */
export function yieldEvery(everyMs: number): { pace(): Promise<void> | undefined; ran(): void } {
  let since = Date.now();
  return {
    pace() {
      if (Date.now() - since < everyMs) return undefined;
      return yieldToEventLoop().then(() => {
        since = Date.now();
      });
    },
    ran() {
      since = Date.now();
    },
  };
}
