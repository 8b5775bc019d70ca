import type { RealtimePort } from '../cluster/realtime-port';
import type { ChangeNotice } from '../sync/realtime-host';
import { describeError } from '../util/describe-error';
import { isObject } from '../util/guards';
import type { Log } from '../util/log';
import type { KuzzleLike, KuzzleRequestLike } from './kuzzle-types';
import type { LocalNotifier } from './local-notifier';
import { stripRequest } from './strip-request';

/** Kuzzle's notify actions (core/realtime/actionEnum.js) by their number. */
const ACTIONS: Record<number, ChangeNotice['action'] | undefined> = { 1: 'create', 2: 'delete', 3: 'replace', 4: 'update', 5: 'write' };

/** The asks through which Kuzzle 2.10's controllers report a change to its notifier. */
export const CHANGE_ASKS = ['core:realtime:document:notify', 'core:realtime:document:mNotify', 'core:realtime:publish'] as const;

const isRequest = (value: unknown): value is KuzzleRequestLike =>
  isObject(value) && isObject(value.input) && typeof (value as { serialize?: unknown }).serialize === 'function';

/**
 * Puts the plugin in front of Kuzzle's notifier: each change made through
 * this node (a document written or deleted, a `realtime:publish`) is
 * encoded for the peers at once, before anything else can alter its
 * objects, sent once, and notified here by the {@link LocalNotifier}, which
 * replaces Kuzzle's own answer (its one "matched before" list per document
 * would lose `out` notifications once filters are split over nodes).
 *
 * @throws Error when this Kuzzle does not expose its answerers, or lacks one of {@link CHANGE_ASKS}.
 */
export function captureChanges(kuzzle: KuzzleLike, notifier: LocalNotifier, peers: Pick<RealtimePort, 'forwardChange'>, log: Log): void {
  const answerers = kuzzle.coreAnswerers;
  const missing = CHANGE_ASKS.filter((ask) => !answerers?.has(ask));
  if (!answerers || missing.length > 0) {
    throw new Error(`[cluster] this Kuzzle does not let the plugin see the changes it notifies (${answerers ? missing.join(', ') : 'no kuzzle.coreAnswerers'})`);
  }
  const notify = (change: Omit<ChangeNotice, 'request'>, request: KuzzleRequestLike, body: boolean): Promise<void> => {
    // Serialized only when a peer listens (see forwardChange).
    const serialized = (): ChangeNotice['request'] => stripRequest(request.serialize(), { body });
    const sent = peers
      .forwardChange({ ...change, request: serialized })
      .catch((error: unknown) => log('error', `change of ${change.index}/${change.collection} not sent to the peers: ${describeError(error)}`));
    const local = notifier.notify(change, () => request, true);
    return local ? Promise.all([sent, local]).then(() => undefined) : sent;
  };
  const documents = (request: unknown, action: unknown, docs: unknown[]): Promise<void> => {
    const name = typeof action === 'number' ? ACTIONS[action] : undefined;
    if (!isRequest(request) || name === undefined) return Promise.reject(new Error(`[cluster] unexpected document notification (action ${String(action)})`));
    const changed = docs.filter(isObject);
    if (changed.length === 0) return Promise.resolve();
    // The body is matched only for a document that comes without its source (an upsert that created it).
    const body = changed.some((doc) => !doc._source);
    return notify({ ...refOf(request), action: name, documents: changed }, request, body);
  };
  answerers.set('core:realtime:document:notify', (request: unknown, action: unknown, doc: unknown) => documents(request, action, [doc]));
  answerers.set('core:realtime:document:mNotify', (request: unknown, action: unknown, docs: unknown) => documents(request, action, Array.isArray(docs) ? docs : []));
  answerers.set('core:realtime:publish', (request: unknown) => {
    if (!isRequest(request)) return Promise.reject(new Error('[cluster] unexpected realtime publication'));
    return notify({ ...refOf(request), action: 'publish', documents: [] }, request, true);
  });
}

function refOf(request: KuzzleRequestLike): { index: string; collection: string } {
  const { index, collection } = request.input.resource;
  return { index: index ?? '', collection: collection ?? '' };
}
