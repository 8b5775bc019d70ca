/** Resolves on the next turn of the event loop, after pending I/O and timers. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * For a loop that may keep the event loop busy (a flood of messages, a big
 * batch): `pace()` yields once `everyMs` have passed since the last yield,
 * so that timers and I/O (heartbeats, health checks) keep their pace.
 */
export function yieldEvery(everyMs: number): { pace(): Promise<void> | undefined } {
  let since = Date.now();
  return {
    pace() {
      if (Date.now() - since < everyMs) return undefined;
      return yieldToEventLoop().then(() => {
        since = Date.now();
      });
    },
  };
}
