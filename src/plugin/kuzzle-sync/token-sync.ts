import Bluebird from 'bluebird';
import { describeError } from '../../util/describe-error';
import type { Handlers } from '../../bus/message-spec';
import { isNonEmptyString as isName, isObject } from '../../util/guards';
import { SerialQueue } from '../../util/serial-queue';
import type { KuzzleStateInternals } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import type { KuzzleMessages, TokenRevocation } from './messages';
import { requestInput } from './request-input';
import { type ManagedToken, type RefreshRecords, TokenRefreshes, type TokenManager, type TokenState } from './token-refresh';
import { entriesFiledAs, hashTokenIndex, tokenIndex } from './token-seal';

/** Revocations sent at once; well under what a peer takes from one node at a time (MAX_REQUESTS_IN_FLIGHT_PER_SENDER). */
const REVOCATIONS_IN_FLIGHT = 16;

/** How long one expiry holds the next ones at most. */
const EXPIRY_WAIT_MS = 5000;

/** Token reads in flight while rechecking a node's tokens. */
const TOKEN_READS_IN_FLIGHT = 32;

const isTrue = (value: unknown): boolean => value === true || value === 'true' || value === 1 || value === '';

/** Where a token manager's expiries are queued, once per manager. */
const SERIALISED = Symbol.for('kuzzle-plugin-cluster.tokenExpiries');

/**
 * Wraps the manager's `expire` so that Kuzzle's own calls run in `queue`
 * (or in the queue of an earlier wrap), and returns Kuzzle's own expire, to
 * be called inside it. Kuzzle's `link`, `unlink` and expiry timer still
 * change the array while an expiry waits, as on one Kuzzle.
 */
function serialisedExpiries(manager: TokenManager, queue: SerialQueue): { queue: SerialQueue; expireNow: TokenManager['expire'] } {
  const marked = manager as TokenManager & { [SERIALISED]?: { queue: SerialQueue; expireNow: TokenManager['expire'] } };
  const existing = marked[SERIALISED];
  if (existing) return existing;
  const expireNow = manager.expire.bind(manager);
  manager.expire = (token) => queue.run(() => expireNow(token));
  return (marked[SERIALISED] = { queue, expireNow });
}

/** Where TokenSync reads what it checks. */
export interface TokenStores {
  /** Reads an API key's document (userId, token, expiresAt) from Kuzzle's internal index. */
  readApiKey(id: string): Promise<unknown>;
  /**
   * Reads a token from Kuzzle's token store (the shared internal Redis):
   * null when it no longer exists; undefined when this Kuzzle cannot tell.
   */
  readToken(userId: string, jwt: string): Promise<unknown>;
  /** The tokens this node held when it saw the shared token store lose its data (see TokenStoreMark). */
  heldAtStoreLoss(): Promise<ReadonlySet<string>>;
  /** A token was read from the store: it is no longer one the loss took. */
  foundInStore(tokenId: string): void;
  /** Refreshes kept for the nodes that miss their message. */
  refreshes: RefreshRecords;
}

/**
 * Tokens live in the shared internal Redis, so a token deleted through one
 * node is refused by all. What is per node is Kuzzle's tokenManager: the
 * link between a token and the connections (and so the subscriptions) that
 * use it on that node. A revocation is therefore replayed on each peer's
 * tokenManager, which drops that connection's subscriptions, exactly as the
 * node that served the logout does for its own connections.
 */
export class TokenSync {
  /** Pipes: the client's answer waits until every peer has dropped what the token fed. */
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    'auth:afterLogout': (request) => this.revoke(request, this.loggedOut(request)),
    'security:afterRevokeTokens': (request) => this.revoke(request, this.byResourceId(request)),
    'security:afterDeleteUser': (request) => this.revoke(request, this.byResourceId(request)),
    'security:afterMDeleteUsers': (request) => this.revoke(request, this.deletedUsers(request)),
    // An API key is a token: Kuzzle forgets its document before the after-event,
    // so the token's key is read before the deletion and revoked after it.
    'auth:beforeDeleteApiKey': (request) => this.rememberApiKey(request, (r) => (isObject(r) && isObject(r.context) && isObject(r.context.user) ? r.context.user._id : undefined)),
    'security:beforeDeleteApiKey': (request) => this.rememberApiKey(request, (r) => requestInput(r).args.userId),
    'auth:afterDeleteApiKey': (request) => this.revoke(request, this.deletedApiKey(request)),
    'security:afterDeleteApiKey': (request) => this.revoke(request, this.deletedApiKey(request)),
  };

  /** API keys about to be deleted, by request: the revocation to send once they are. */
  private readonly apiKeys = new WeakMap<object, TokenRevocation>();

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:token:revoke' | 'kuzzle:token:recheck'> = {
    'kuzzle:token:revoke': async (revocation) => {
      await this.apply(revocation);
      return {};
    },
    'kuzzle:token:recheck': async () => {
      // One at a time: requests made while one runs (a sender asking again) share the next.
      await this.rechecks.once('recheck', () => this.recheck());
      return {};
    },
  };

  /**
   * Kuzzle's token manager finds an entry, then removes it by its position
   * once the connection's rooms are gone: expiries (Kuzzle's own as well)
   * and the moves of refreshes run one at a time, one that takes longer than
   * {@link EXPIRY_WAIT_MS} (its rooms' removal waiting for Redis) no longer
   * holding the next ones.
   */
  private expiries = new SerialQueue(EXPIRY_WAIT_MS);
  private readonly rechecks = new SerialQueue();
  /** Refreshes through any node (their pipes and handlers are merged beside these). */
  readonly refreshes: TokenRefreshes;
  private readonly readApiKey: TokenStores['readApiKey'];
  private readonly readToken: TokenStores['readToken'];
  private readonly heldAtStoreLoss: TokenStores['heldAtStoreLoss'];
  private readonly foundInStore: TokenStores['foundInStore'];
  /** Kuzzle's own expire, called inside {@link expiries} (Kuzzle's calls of it queue there too). */
  private readonly expireNow: TokenManager['expire'];

  constructor(
    private readonly channel: Pick<KuzzleChannel, 'send' | 'log'>,
    private readonly kuzzle: KuzzleStateInternals,
    stores: TokenStores,
  ) {
    ({ readApiKey: this.readApiKey, readToken: this.readToken, heldAtStoreLoss: this.heldAtStoreLoss, foundInStore: this.foundInStore } = stores);
    const manager = kuzzle.tokenManager;
    // Kuzzle's own expiries (a logout served on this node) queue with this
    // module's and with the refreshes' moves: each finds a position, waits,
    // then removes by it. Kuzzle creates its token manager before any plugin;
    // wrapped once per manager (a second TokenSync shares the first's queue).
    const queued = manager ? serialisedExpiries(manager, this.expiries) : undefined;
    this.expiries = queued?.queue ?? this.expiries;
    this.expireNow = queued?.expireNow ?? (async (): Promise<void> => undefined);
    this.refreshes = new TokenRefreshes(channel, kuzzle, stores.refreshes, (token) => this.stateOf(token), this.expiries, this.expireNow, this.heldAtStoreLoss);
  }

  /**
   * Drops the connections of this node whose token no longer exists in the
   * shared store (revoked while this node did not hear it: cut off, joining,
   * or by a path no event reports, such as the users deleted by
   * `admin:resetSecurity`). Returns how many were dropped. A token whose
   * read fails is kept: only a token known to be gone is dropped.
   * `keepIfStoreLost`: when the store lost its data (a Redis flush or a
   * restart without persistence), the tokens it held are gone without being
   * revoked, and one Kuzzle keeps their connections: so does this node,
   * for the tokens it held when it saw the loss (see TokenStoreMark); those
   * made since and gone were revoked.
   */
  async recheck(options: { keepIfStoreLost?: boolean } = {}): Promise<number> {
    const manager = this.kuzzle.tokenManager;
    if (!manager) return 0;
    const gone = new Set<ManagedToken>();
    const refreshed: ManagedToken[] = [];
    let read = 0;
    let unread: unknown;
    let unreadCount = 0;
    // A copy: expiries remove entries from the array.
    await Bluebird.map([...manager.tokens.array], async (token) => {
      let state: TokenState | undefined;
      try {
        state = await this.readState(token);
      } catch (error) {
        unreadCount++;
        unread ??= error;
        return;
      }
      if (state === undefined) return;
      read++;
      if (state === 'gone') gone.add(token);
      else if (state === 'refreshed') refreshed.push(token);
    }, { concurrency: TOKEN_READS_IN_FLIGHT });
    if (gone.size > 0 && options.keepIfStoreLost === true) {
      const lost = await this.heldAtStoreLoss();
      const kept = [...gone].filter((token) => token._id !== null && lost.has(token._id));
      for (const token of kept) gone.delete(token);
      if (kept.length > 0) this.channel.log('warn', `${kept.length} of the ${read} token(s) of this node's connections are no longer in the shared store, which lost its data while this node held them: the connections are kept, as one Kuzzle keeps them`);
    }
    // Those known gone are dropped all the same; those unread fail the step, so that it is reported and tried again.
    const dropped = gone.size === 0 && refreshed.length === 0 ? 0 : await this.settle(gone, refreshed);
    if (unreadCount > 0) throw new Error(`${unreadCount} token(s) of this node's connections could not be read from the shared store, their connections kept for now: ${describeError(unread)}`);
    return dropped;
  }

  /** Drops the connections of the tokens gone (revoked) and moves those of the tokens refreshed; returns how many tokens' connections were dropped. */
  private async settle(gone: Set<ManagedToken>, refreshed: ManagedToken[]): Promise<number> {
    // Refreshed through a node this one did not hear (gone, or still kept for
    // Kuzzle's grace period, marked refreshed): moved to the newest token.
    const revoked: ManagedToken[] = [];
    let moved = 0;
    let ended = 0;
    await Bluebird.map([...gone, ...refreshed], async (token) => {
      const settled = await this.refreshes.follow(token);
      if (settled === 'moved') moved++;
      else if (settled === 'ended') ended++;
      else if (settled === undefined && gone.has(token)) revoked.push(token);
    }, { concurrency: TOKEN_READS_IN_FLIGHT });
    if (moved > 0) this.channel.log('info', `moved the connections of ${moved} token(s) refreshed while this node did not hear it to their newest token`);
    for (const token of revoked) await this.expire(token);
    const dropped = revoked.length + ended;
    if (dropped > 0) this.channel.log('info', `dropped the connections of ${dropped} token(s) revoked while this node did not hear it`);
    return dropped;
  }

  /** Whether a token is gone from the shared store; undefined when it cannot be told. */
  private async isGone(token: Pick<ManagedToken, '_id' | 'userId'>): Promise<boolean | undefined> {
    const state = await this.stateOf(token);
    return state === undefined ? undefined : state === 'gone';
  }

  /**
   * A token as the shared store holds it: gone, refreshed (Kuzzle keeps a
   * refreshed token for a grace period, marked so), or kept; undefined
   * when it cannot be told.
   */
  private async stateOf(token: Pick<ManagedToken, '_id' | 'userId'>): Promise<TokenState | undefined> {
    try {
      return await this.readState(token);
    } catch (error) {
      this.channel.log('warn', `token of ${token.userId ?? 'an unknown user'} not checked: ${String(error)}`);
      return undefined;
    }
  }

  /** {@link stateOf}, throwing when the store could not be read. */
  private async readState(token: Pick<ManagedToken, '_id' | 'userId'>): Promise<TokenState | undefined> {
    const { _id: id, userId } = token;
    if (!isName(id) || !isName(userId) || !id.startsWith(`${userId}#`)) return undefined;
    const stored = await this.readToken(userId, id.slice(userId.length + 1));
    if (stored === undefined) return undefined;
    if (stored === null) return 'gone';
    this.foundInStore(id);
    return isObject(stored) && stored.refreshed === true ? 'refreshed' : 'kept';
  }

  /** Expires a token in Kuzzle's token manager, after the expiries under way (see {@link expiries}). */
  private expire(token: ManagedToken): Promise<void> {
    return this.expiries.run(() => this.expireNow(token));
  }

  /** Every peer drops the connections whose token is gone (see {@link recheck}); resolves once each did or failed to answer. */
  recheckEverywhere(): Promise<void> {
    return this.channel.send('kuzzle:token:recheck', {});
  }

  private async rememberApiKey(request: unknown, ownerOf: (request: unknown) => unknown): Promise<unknown> {
    const id = requestInput(request).resource._id;
    const owner = ownerOf(request);
    if (!isName(id) || !isName(owner) || !isObject(request)) return request;
    try {
      const key = await this.readApiKey(id);
      const source = isObject(key) && isObject(key._source) ? key._source : isObject(key) ? key : {};
      if (source.userId !== owner || typeof source.token !== 'string') return request;
      // The token as the token managers file it: the one in the shared store
      // (as Kuzzle's own deletion reads it). The document's expiry differs
      // when Kuzzle recreated the token at start-up after Redis lost it.
      const stored = await this.readToken(owner, source.token).catch(() => undefined);
      const expiresAt = isObject(stored) && typeof stored.expiresAt === 'number' ? stored.expiresAt : source.expiresAt;
      if (typeof expiresAt === 'number') this.apiKeys.set(request, { tokenHash: hashTokenIndex(tokenIndex({ _id: `${owner}#${source.token}`, expiresAt })), expiresAt });
    } catch (error) {
      // Not found: Kuzzle answers the deletion with the error itself.
      this.channel.log('debug', `API key ${id} not read before its deletion: ${String(error)}`);
    }
    return request;
  }

  private deletedApiKey(request: unknown): TokenRevocation[] {
    const revocation = isObject(request) ? this.apiKeys.get(request) : undefined;
    return revocation ? [revocation] : [];
  }

  private async revoke(request: unknown, revocations: TokenRevocation[]): Promise<unknown> {
    // A few at a time: a peer takes a bounded number of requests of one node
    // at once and refuses the rest (security:mDeleteUsers of hundreds).
    await Bluebird.map(revocations, (revocation) => this.channel.send('kuzzle:token:revoke', revocation), { concurrency: REVOCATIONS_IN_FLIGHT });
    return request;
  }

  private loggedOut(request: unknown): TokenRevocation[] {
    const context = isObject(request) && isObject(request.context) ? request.context : {};
    const user = isObject(context.user) ? context.user : {};
    if (isTrue(requestInput(request).args.global) && isName(user._id)) return [{ kuid: user._id }];
    const token = isObject(context.token) ? context.token : {};
    if (!isName(token._id) || typeof token.expiresAt !== 'number') return [];
    return [{ tokenHash: hashTokenIndex(tokenIndex({ _id: token._id, expiresAt: token.expiresAt })), expiresAt: token.expiresAt }];
  }

  private byResourceId(request: unknown): TokenRevocation[] {
    const kuid = requestInput(request).resource._id;
    return isName(kuid) ? [{ kuid }] : [];
  }

  /** Only the users actually deleted: a partial failure leaves the others' tokens valid. */
  private deletedUsers(request: unknown): TokenRevocation[] {
    const result = isObject(request) ? request.result : undefined;
    return Array.isArray(result) ? result.filter(isName).map((kuid) => ({ kuid })) : [];
  }

  private async apply(revocation: TokenRevocation): Promise<void> {
    const manager = this.kuzzle.tokenManager;
    if (!manager) return;
    // Picked in turn with the refreshes' moves: one under way when the token
    // was revoked files the connection under it before this looks. A copy
    // either way: expire() removes entries from the array.
    const tokens = await this.expiries.run(async () => ('kuid' in revocation
      ? manager.tokens.array.filter((token) => token.userId === revocation.kuid)
      : entriesFiledAs(manager.tokens.array, revocation.tokenHash, revocation.expiresAt)));
    for (const token of tokens) {
      // A token still in the store was not revoked: this is a revocation
      // asked again late (the user logged in again since) or out of order.
      if ((await this.isGone(token)) === false) continue;
      await this.expire(token);
    }
  }
}
