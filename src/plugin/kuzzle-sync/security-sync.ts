import isEqual from 'lodash/isEqual';
import type { Handlers } from '../../bus/message-spec';
import { delay } from '../../util/delay';
import { isNonEmptyString as isName, isObject } from '../../util/guards';
import type { KuzzleLike } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import { boundedInvalidation, type KuzzleMessages, type SecurityInvalidation } from './messages';
import { requestInput } from './request-input';

type Kind = 'role' | 'profile';

/** Longer than an Elasticsearch read of a role or profile takes. */
const SECOND_INVALIDATION_MS = 1000;
/**
 * When a peer drops a changed object again: a read of the old object in
 * flight when the change arrived puts it back in Kuzzle's cache once it
 * answers (its repository caches the read's promise, then its result), and
 * a loaded Elasticsearch can take longer than a second; the last one is
 * as late as the Elasticsearch client's default request timeout (30 s).
 */
const LATER_DROPS_MS: readonly number[] = [SECOND_INVALIDATION_MS, 5000, 30_000];
/** How long the writer waits for Elasticsearch to hold a save announced by Kuzzle's internals, and how often it looks (first, at most). */
const STORED_WAIT_MS = 30_000;
const STORED_POLL_MS = 25;
const STORED_POLL_MAX_MS = 1000;

/** Where Kuzzle keeps each kind, and the field its save event announces. */
const STORED: Record<Kind, { collection: string; field: string }> = {
  role: { collection: 'roles', field: 'controllers' },
  profile: { collection: 'profiles', field: 'policies' },
};

/** Reads a document of Kuzzle's internal index (`{ _source }`); rejects when there is none. */
export type InternalRead = (collection: string, id: string) => Promise<unknown>;

/** The single object an action changed, by the id in its request. */
const single = (kind: Kind) => (request: unknown): SecurityInvalidation => {
  const id = requestInput(request).resource._id;
  return isName(id) ? { kind, ids: [id] } : { kind };
};

/** mDelete*: the ids are in the body; any doubt invalidates everything. */
const many = (kind: Kind) => (request: unknown): SecurityInvalidation => {
  const ids = requestInput(request).body.ids;
  return Array.isArray(ids) && ids.every(isName) ? { kind, ids } : { kind };
};

const everything = (): SecurityInvalidation => ({ kind: 'all' });

/**
 * Roles and profiles are cached in each node's memory (users and tokens live
 * in the shared internal Redis, so they need nothing). The repositories'
 * `core:roleRepository:save`-style events fire before the write reaches
 * Elasticsearch, so a peer reloading at once could cache the old object:
 * the API after-events fire once the write is done, and only then do peers
 * drop the object from their caches (the next use reloads it).
 */
export class SecuritySync {
  /**
   * Pipes, not hooks: the client's answer waits until every peer has
   * dropped the changed roles/profiles, so the very next request, on any
   * node, is checked against the stored rights.
   */
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    // An answer before the load is written would let peers reload the old rights.
    'admin:beforeLoadSecurities': async (request) => {
      requestInput(request).args.refresh = 'wait_for';
      return request;
    },
  };

  /**
   * Roles and profiles written without the API (a plugin or the application
   * through Kuzzle's internals): the repositories announce a save before it
   * reaches Elasticsearch, and a deletion after. Peers drop the object at
   * once, and again when this node reads the announced content back from
   * Elasticsearch (a deletion: a moment later), without holding the writer;
   * each peer also drops it a second time itself (see {@link invalidate}).
   */
  readonly hooks: Record<string, (payload: unknown) => void> = {
    'core:roleRepository:save': (payload) => this.internalWrite('role', payload, true),
    'core:roleRepository:delete': (payload) => this.internalWrite('role', payload, false),
    'core:profileRepository:save': (payload) => this.internalWrite('profile', payload, true),
    'core:profileRepository:delete': (payload) => this.internalWrite('profile', payload, false),
  };

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:security:invalidate'> = {
    'kuzzle:security:invalidate': async (change) => {
      await this.invalidate(change);
      return {};
    },
  };

  /** Objects saved through Kuzzle's internals whose write is being waited for: the content announced last. */
  private readonly watches = new Map<string, unknown>();

  constructor(
    private readonly channel: Pick<KuzzleChannel, 'send'>,
    private readonly kuzzle: Pick<KuzzleLike, 'ask'>,
    private readonly readInternal: InternalRead,
    private readonly laterDropsMs: readonly number[] = LATER_DROPS_MS,
  ) {
    const events: Record<string, (request: unknown) => SecurityInvalidation> = {
      'security:afterCreateRole': single('role'),
      'security:afterCreateOrReplaceRole': single('role'),
      'security:afterUpdateRole': single('role'),
      'security:afterDeleteRole': single('role'),
      'security:afterMDeleteRoles': many('role'),
      'security:afterCreateProfile': single('profile'),
      'security:afterCreateOrReplaceProfile': single('profile'),
      'security:afterUpdateProfile': single('profile'),
      'security:afterDeleteProfile': single('profile'),
      'security:afterMDeleteProfiles': many('profile'),
      // Both rewrite the default roles and profiles (reset) or load many at once.
      'security:afterCreateFirstAdmin': everything,
      'admin:afterLoadSecurities': everything,
      // admin:afterResetSecurity: see dropEverywhere.
    };
    for (const [event, describe] of Object.entries(events)) {
      this.pipes[event] = async (request) => {
        await channel.send('kuzzle:security:invalidate', boundedInvalidation(describe(request)));
        return request;
      };
    }
  }

  /** Every peer drops every role and profile it holds (`admin:resetSecurity` rewrote them all). */
  dropEverywhere(): Promise<void> {
    return this.channel.send('kuzzle:security:invalidate', { kind: 'all' });
  }

  private internalWrite(kind: Kind, payload: unknown, saved: boolean): void {
    const id = isObject(payload) ? payload._id : undefined;
    const change: SecurityInvalidation = isName(id) ? { kind, ids: [id] } : { kind };
    const send = (): void => void this.channel.send('kuzzle:security:invalidate', change);
    send();
    if (!saved || !isName(id) || !isObject(payload)) {
      setTimeout(send, SECOND_INVALIDATION_MS).unref();
      return;
    }
    // One watch per object, on the content saved last: a burst of saves polls once.
    const key = `${kind}/${id}`;
    const watching = this.watches.has(key);
    this.watches.set(key, payload[STORED[kind].field]);
    if (watching) return;
    void this.stored(kind, id, () => this.watches.get(key))
      .catch(() => undefined) // a content JSON cannot hold: drop it again at once, as after the wait
      .then(() => {
        this.watches.delete(key);
        send();
      });
  }

  /**
   * Resolves once Elasticsearch holds `announced` for the object (or after
   * {@link STORED_WAIT_MS}, when another write overtook this one): from then
   * on, a peer that reloads the object gets the new one. Reads Elasticsearch,
   * not Kuzzle's cache, which a read of the old object could fill again.
   */
  private async stored(kind: Kind, id: string, announced: () => unknown): Promise<void> {
    const { collection, field } = STORED[kind];
    const deadline = Date.now() + STORED_WAIT_MS;
    for (let pause = STORED_POLL_MS; Date.now() < deadline; pause = Math.min(2 * pause, STORED_POLL_MAX_MS)) {
      // The event carries objects as Kuzzle holds them; Elasticsearch gives them back as JSON.
      const latest = announced();
      const expected: unknown = latest === undefined ? undefined : JSON.parse(JSON.stringify(latest));
      const document = await this.readInternal(collection, id).catch(() => undefined); // not created yet
      const source = isObject(document) && isObject(document._source) ? document._source : undefined;
      if (source && isEqual(source[field], expected)) return;
      await delay(pause, { unref: true });
    }
  }

  /**
   * Drops the cached objects, and again a moment later and twice more (see
   * {@link LATER_DROPS_MS}): a read already in flight on this node when the
   * change arrived would otherwise put the old object back in Kuzzle's cache.
   */
  async invalidate(change: SecurityInvalidation): Promise<void> {
    await this.drop(change);
    for (const after of this.laterDropsMs) setTimeout(() => void this.drop(change).catch(() => undefined), after).unref();
  }

  private async drop({ kind, ids }: SecurityInvalidation): Promise<void> {
    const kinds: Kind[] = kind === 'all' ? ['role', 'profile'] : [kind];
    for (const k of kinds) {
      if (!ids || kind === 'all') await this.kuzzle.ask(`core:security:${k}:invalidate`);
      else for (const id of ids) await this.kuzzle.ask(`core:security:${k}:invalidate`, id);
    }
  }
}
