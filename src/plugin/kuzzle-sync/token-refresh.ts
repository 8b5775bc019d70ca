import type { Handlers } from '../../bus/message-spec';
import { isNonEmptyString as isName, isObject } from '../../util/guards';
import type { SerialQueue } from '../../util/serial-queue';
import type { KuzzleStateInternals } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import type { KuzzleMessages, TokenRefresh } from './messages';
import { entriesFiledAs, hashTokenIndex, openToken, positionOf, sealToken, tokenIndex, type TokenFields } from './token-seal';

export type TokenManager = NonNullable<KuzzleStateInternals['tokenManager']>;
export type ManagedToken = TokenManager['tokens']['array'][number];
/** What became of a connection whose token was refreshed: moved to the new token, ended with it (revoked since), or already gone. */
export type Settled = 'moved' | 'ended' | 'missing';
/** A token as the shared store holds it: gone, kept for Kuzzle's grace period after a refresh (marked refreshed), or kept. */
export type TokenState = 'gone' | 'refreshed' | 'kept';

/**
 * Refreshes kept where tokens are (Kuzzle's internal cache), for the peers
 * that miss the message: cut off, or joining. Keyed by the hash of the old
 * token; the value is the new token sealed for the old one's holders.
 */
export interface RefreshRecords {
  write(tokenHash: string, sealed: string, ttlMs: number): Promise<void>;
  /** The sealed token, null when none is recorded; rejects when the cache cannot be read. */
  read(tokenHash: string): Promise<string | null>;
}

/** How long a refresh is kept past the old token's expiry: that expiry is on the refreshing node's clock. */
const RECORD_MARGIN_MS = 60_000;
/** How long a refresh of a token that never expires (an API key's) is kept. */
const NO_EXPIRY_RECORD_MS = 24 * 3600_000;
/** Most recorded refreshes followed from one token (refreshed again and again while a node was cut off). */
const MAX_CHAIN = 8;

/**
 * `auth:refreshToken` through any node moves, on every node, the
 * connections of the old token to the new one, as Kuzzle's token manager
 * does on the node that served it: without it, a node holding a WebSocket
 * connection whose token was refreshed over HTTP through another node
 * dropped its subscriptions when the old token expired. The new token
 * travels sealed with a key only the old token's holders can derive (see
 * token-seal.ts): a peer that does not hold the old token learns nothing.
 */
export class TokenRefreshes {
  /** The client's answer waits until every peer moved the connections. */
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    'auth:afterRefreshToken': (request) => this.spread(request),
  };

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:token:refresh'> = {
    'kuzzle:token:refresh': async (refresh) => {
      await this.apply(refresh);
      return {};
    },
  };

  constructor(
    private readonly channel: Pick<KuzzleChannel, 'send' | 'log'>,
    private readonly kuzzle: KuzzleStateInternals,
    private readonly records: RefreshRecords,
    /** A token as the shared store holds it (see TokenSync). */
    private readonly state: (token: { _id: string | null; userId: string }) => Promise<TokenState | undefined>,
    /** Where every change of Kuzzle's token manager runs, Kuzzle's own expiries included (see TokenSync). */
    private readonly serial: SerialQueue,
    /** Kuzzle's own expire, to be called inside {@link serial}. */
    private readonly expireNow: (token: ManagedToken) => Promise<void>,
    /** The tokens this node held when it saw the shared token store lose its data (see TokenStores). */
    private readonly heldAtStoreLoss: () => Promise<ReadonlySet<string>>,
  ) {}

  private async spread(request: unknown): Promise<unknown> {
    const refresh = refreshOf(request);
    if (!refresh) return request;
    const { old, token } = refresh;
    const oldIndex = tokenIndex(old);
    const tokenHash = hashTokenIndex(oldIndex);
    const sealed = sealToken(oldIndex, token);
    const ttl = old.expiresAt > 0 ? Math.max(old.expiresAt - Date.now(), 0) + RECORD_MARGIN_MS : NO_EXPIRY_RECORD_MS;
    try {
      await this.records.write(tokenHash, sealed, ttl);
    } catch (error) {
      this.channel.log('warn', `refresh of a token of ${old.userId} not recorded (a node cut off now keeps the old one): ${String(error)}`);
    }
    await this.channel.send('kuzzle:token:refresh', { tokenHash, expiresAt: old.expiresAt, sealed });
    return request;
  }

  private async apply({ tokenHash, expiresAt, sealed }: TokenRefresh): Promise<void> {
    const manager = this.kuzzle.tokenManager;
    if (!manager) return;
    for (const entry of entriesFiledAs(manager.tokens.array, tokenHash, expiresAt)) {
      const token = openToken(entry.idx, sealed);
      if (!token || token.userId !== entry.userId) {
        this.channel.log('warn', `a refresh of a token of ${entry.userId} could not be opened: ignored`);
        continue;
      }
      await this.settle(manager, entry.idx, token);
    }
  }

  /**
   * For a token gone from the shared store, or kept there for Kuzzle's grace
   * period after a refresh: when recorded refreshes lead from it (through a
   * node this one did not hear), settles its connection on the newest token
   * (see {@link settle}); undefined when none is recorded.
   */
  async follow(entry: ManagedToken): Promise<Settled | undefined> {
    const manager = this.kuzzle.tokenManager;
    const newest = manager ? await this.newest(entry) : undefined;
    return manager && newest ? this.settle(manager, entry.idx, newest.token) : undefined;
  }

  /**
   * The token recorded refreshes lead to from `from`, with its state in the
   * store: the first one the store keeps (or cannot tell about), else the
   * last found; undefined when none is recorded. At most {@link MAX_CHAIN}
   * steps.
   */
  private async newest(from: { _id: string | null; userId: string; expiresAt: number }): Promise<{ token: TokenFields; state: TokenState | undefined } | undefined> {
    let found: { token: TokenFields; state: TokenState | undefined } | undefined;
    let index = tokenIndex(from);
    for (let step = 0; step < MAX_CHAIN; step++) {
      const next = await this.recorded(index, from.userId);
      if (!next) break;
      index = tokenIndex(next);
      found = { token: next, state: await this.state(next) };
      // Gone, or refreshed within the last grace period: a record may lead further.
      if (found.state !== 'gone' && found.state !== 'refreshed') break;
    }
    return found;
  }

  /**
   * Whether a refresh's new token may be gone with the store's data rather
   * than revoked: this node held the old token (`heldId`) when it saw the
   * store lose its data, and the refresh's record is gone too (written
   * before the loss).
   */
  private async lostWith(index: string, heldId: string | null): Promise<boolean> {
    const lost = await this.heldAtStoreLoss().catch(() => undefined);
    if (heldId === null || lost?.has(heldId) !== true) return false;
    // A record that cannot be read says nothing: not taken as lost.
    return (await this.readRecord(index)) === null;
  }

  /** The token the refresh recorded under `index` gave, when it was one of `userId`'s. */
  private async recorded(index: string, userId: string): Promise<TokenFields | undefined> {
    const sealed = await this.readRecord(index);
    const token = typeof sealed === 'string' ? openToken(index, sealed) : undefined;
    return token?.userId === userId ? token : undefined;
  }

  /** The refresh recorded under `index`, sealed: null when none is, undefined when the cache cannot be read. */
  private readRecord(index: string): Promise<string | null | undefined> {
    return this.records.read(hashTokenIndex(index)).catch(() => undefined);
  }

  /**
   * Files the connection and rooms of the entry under `index` under `token`,
   * as Kuzzle's `refresh` does, or, when `token` is gone from the store
   * (revoked since: a logout through another node, the user deleted), ends
   * them as that revocation would have on the node holding the new token.
   * A token gone with the store's data (a Redis flush or restart without
   * persistence, before the refresh's record was written: that record is
   * gone with it) was not revoked: the connection is moved, as one Kuzzle,
   * whose refresh moved it before the loss, keeps it. Checked in turn with
   * the revocations and Kuzzle's own expiries.
   */
  private settle(manager: TokenManager, index: string, token: TokenFields): Promise<Settled> {
    return this.serial.run(async () => {
      const array = manager.tokens.array;
      const found = array[positionOf(array, index)];
      if (!found || found.connectionId === undefined) return 'missing';
      let target = token;
      let state = await this.state(target);
      // Refreshed again since (this message asked again late, or a refresh
      // made while this waited its turn, which found no entry to move yet):
      // the newest recorded.
      const further = state === 'gone' || state === 'refreshed' ? await this.newest(target) : undefined;
      if (further) ({ token: target, state } = further);
      if (state === 'gone' && !(await this.lostWith(index, found._id))) {
        await this.expireNow(found);
        return 'ended';
      }
      // Found again: Kuzzle's expiry timer or a subscription may have moved it meanwhile.
      const at = positionOf(array, index);
      const entry = array[at];
      if (!entry || entry.connectionId === undefined || !manager.link) return 'missing';
      // Kuzzle's own `refresh` adds the new entry before removing the old one by
      // a position found earlier: a new token expiring first would shift the
      // array and remove another connection's entry. Removed first here. An
      // entry always has a room (Kuzzle drops it with its last), so linking
      // each room files it again.
      array.splice(at, 1);
      for (const room of entry.rooms ?? []) manager.link({ ...target, refreshed: false }, entry.connectionId, room);
      return 'moved';
    });
  }
}

/** The old token (the request's) and the new one (its result), when a refresh succeeded and named its token. */
function refreshOf(request: unknown): { old: { _id: string; userId: string; expiresAt: number }; token: TokenFields } | undefined {
  if (!isObject(request) || !isObject(request.context) || !isObject(request.result)) return undefined;
  const old = request.context.token;
  const result = request.result;
  if (!isObject(old) || !isName(old._id) || !isName(old.userId) || typeof old.expiresAt !== 'number') return undefined;
  // With `cookieAuth` the new token is only in a cookie: not seen here, not spread.
  if (!isName(result.jwt) || result._id !== old.userId || typeof result.expiresAt !== 'number') return undefined;
  // Refreshed within the second it was made, with the same lifetime: the same JWT, nothing to move (as Kuzzle's own refresh).
  if (old._id === `${old.userId}#${result.jwt}`) return undefined;
  const ttl = typeof result.ttl === 'number' ? result.ttl : result.expiresAt - Date.now();
  return {
    old: { _id: old._id, userId: old.userId, expiresAt: old.expiresAt },
    token: { _id: `${old.userId}#${result.jwt}`, userId: old.userId, jwt: result.jwt, expiresAt: result.expiresAt, ttl },
  };
}
