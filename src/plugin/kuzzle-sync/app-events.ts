import type { Handlers } from '../../bus/message-spec';
import { describeError } from '../../util/describe-error';
import { isNonEmptyString as isName } from '../../util/guards';
import type { KuzzleLike } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import type { AppEvent, KuzzleMessages } from './messages';

type Listener = (payload: unknown) => unknown;

/**
 * Answers the asks behind `app.cluster.broadcast/on/once/off/removeAllListeners`
 * (Kuzzle's BackendCluster does nothing unless someone answers them).
 *
 * Semantics match Kuzzle 2.11+'s built-in cluster: `broadcast` reaches the
 * listeners of the OTHER nodes only; the emitting node's own listeners are not
 * called (its documentation reads "broadcasts an event and its payload to
 * other cluster nodes"). An application that wants a local call too makes it
 * itself.
 */
export class AppEvents {
  private readonly listeners = new Map<string, Array<{ fn: Listener; once: boolean }>>();
  /** Listener calls that threw or rejected. */
  listenerErrors = 0;

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:app:event'> = {
    'kuzzle:app:event': (message) => this.emitLocally(message),
  };

  constructor(private readonly channel: KuzzleChannel, kuzzle: KuzzleLike) {
    kuzzle.onAsk('cluster:event:broadcast', (event, payload) => this.broadcast(event, payload));
    kuzzle.onAsk('cluster:event:on', (event, fn) => this.add(event, fn, false));
    kuzzle.onAsk('cluster:event:once', (event, fn) => this.add(event, fn, true));
    kuzzle.onAsk('cluster:event:off', (event, fn) => this.off(event, fn));
    kuzzle.onAsk('cluster:event:removeAllListeners', (event) => this.removeAll(event));
  }

  private async broadcast(event: unknown, payload: unknown): Promise<void> {
    if (!isName(event)) throw new Error('app.cluster.broadcast: the event name must be a non-empty string');
    // Fails here, in the caller, rather than silently on the wire (a payload JSON cannot hold, or one too large to send).
    await this.channel.publishOrFail('kuzzle:app:event', { event, payload });
  }

  private add(event: unknown, fn: unknown, once: boolean): void {
    if (!isName(event) || typeof fn !== 'function') throw new Error('app.cluster.on/once: expected an event name and a function');
    const list = this.listeners.get(event) ?? [];
    list.push({ fn: fn as Listener, once });
    this.listeners.set(event, list);
  }

  /** Removes the first registration of that listener, as EventEmitter's `off` does. */
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
    await Promise.all(
      entries.map(async ({ fn }) => {
        try {
          await fn(payload);
        } catch (error) {
          this.listenerErrors++;
          this.channel.log('error', `app.cluster listener of "${event}" failed: ${describeError(error)}`);
        }
      }),
    );
  }
}
