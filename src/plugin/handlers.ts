/** A hook or pipe handler as Kuzzle calls it. */
export type EventHandler = (...args: never[]) => unknown;

/**
 * A pipe handler: Kuzzle 2.x waits for the promise a pipe returns, or else
 * for the callback it passes last; a plain value would leave the request
 * waiting for good.
 */
export type PipeHandler = (...args: never[]) => Promise<unknown>;

/**
 * Merges handler maps of several modules into one declaration. Kuzzle takes
 * one handler per event and plugin: two modules on one event is a bug,
 * reported at start-up.
 */
export function mergeHandlers<H extends EventHandler>(kind: 'hook' | 'pipe', ...parts: Array<Record<string, H>>): Record<string, H> {
  const merged: Record<string, H> = {};
  for (const part of parts) {
    for (const [event, handler] of Object.entries(part)) {
      if (event in merged) throw new Error(`two ${kind}s declared on "${event}"`);
      merged[event] = handler;
    }
  }
  return merged;
}
