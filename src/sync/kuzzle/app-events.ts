import { describeError } from '../../util/describe-error';
import type { KuzzleLike } from '../../plugin/kuzzle-types';
import { isName, isObject, type SyncChannel } from './channel';

type Listener = (payload: unknown) => unknown;

export interface AppEvent {
  event: string;
  payload: unknown;
}

export function parseAppEvent(body: unknown): AppEvent | undefined {
  if (!isObject(body) || !isName(body.event)) return undefined;
  return { event: body.event, payload: body.payload };
}

/**
 * Answers the asks behind `app.cluster.broadcast/on/once/off/removeAllListeners`
 * (Kuzzle's BackendCluster does nothing unless someone answers them).
 *
 * Semantics match Kuzzle 2.11+'s built-in cluster: `broadcast` reaches the
 * listeners of the OTHER nodes only; the emitting node's own listeners are not
 * called (2.11's ClusterNode.broadcast only publishes to its peers, and only
 * its subscribers emit on their local emitter; the documentation reads
 * "broadcasts an event and its payload to other cluster nodes"). An
 * application that wants a local call too makes it itself.
 */
export class AppEvents {
  private readonly listeners = new Map<string, Array<{ fn: Listener; once: boolean }>>();
  /** Listener calls that threw or rejected. */
  listenerErrors = 0;

  constructor(private readonly channel: SyncChannel, kuzzle: KuzzleLike) {
    kuzzle.onAsk('cluster:event:broadcast', (event, payload) => this.broadcast(event, payload));
    kuzzle.onAsk('cluster:event:on', (event, fn) => this.add(event, fn, false));
    kuzzle.onAsk('cluster:event:once', (event, fn) => this.add(event, fn, true));
    kuzzle.onAsk('cluster:event:off', (event, fn) => this.off(event, fn));
    kuzzle.onAsk('cluster:event:removeAllListeners', (event) => this.removeAll(event));
    channel.on('app:event', parseAppEvent, (message) => this.emitLocally(message));
  }

  private async broadcast(event: unknown, payload: unknown): Promise<void> {
    if (!isName(event)) throw new Error('app.cluster.broadcast: the event name must be a non-empty string');
    // Fails here, in the caller, rather than silently on the wire.
    JSON.stringify(payload);
    await this.channel.publish('app:event', { event, payload });
  }

  private add(event: unknown, fn: unknown, once: boolean): void {
    if (!isName(event) || typeof fn !== 'function') throw new Error('app.cluster.on/once: expected an event name and a function');
    const list = this.listeners.get(event) ?? [];
    list.push({ fn: fn as Listener, once });
    this.listeners.set(event, list);
  }

  /** Removes the first registration of that listener, as EventEmitter does. */
  private off(event: unknown, fn: unknown): void {
    if (!isName(event)) return;
    const list = this.listeners.get(event);
    const at = list?.findIndex((entry) => entry.fn === fn) ?? -1;
    if (list && at >= 0) list.splice(at, 1);
  }

  private removeAll(event: unknown): void {
    if (event === undefined || event === null) this.listeners.clear();
    else if (isName(event)) this.listeners.delete(event);
  }

  private async emitLocally({ event, payload }: AppEvent): Promise<void> {
    const list = this.listeners.get(event);
    if (!list) return;
    // Copy first: a listener may (un)register others while we iterate.
    const entries = [...list];
    this.listeners.set(event, list.filter((entry) => !entry.once));
    await Promise.all(entries.map(async ({ fn }) => {
      try {
        await fn(payload);
      } catch (error) {
        this.listenerErrors++;
        this.channel.log('error', `[cluster] app.cluster listener of "${event}" failed: ${describeError(error)}`);
      }
    }));
  }
}
