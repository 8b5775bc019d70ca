/** A hook or pipe handler as Kuzzle calls it. */
export type EventHandler = (...args: never[]) => unknown;

/**
 * Merges handler maps of several modules into one declaration. Kuzzle takes
 * one handler per event and plugin: two modules on one event is a bug,
 * reported at start-up.
 */
export function mergeHandlers(kind: 'hook' | 'pipe', ...parts: Array<Record<string, EventHandler>>): Record<string, EventHandler> {
  const merged: Record<string, EventHandler> = {};
  for (const part of parts) {
    for (const [event, handler] of Object.entries(part)) {
      if (event in merged) throw new Error(`two ${kind}s declared on "${event}"`);
      merged[event] = handler;
    }
  }
  return merged;
}
