import { broadcast, parseEmpty, request } from '../../bus/message-spec';
import { isNonEmptyString as isName, isObject } from '../../util/guards';

/** Index/collection cache change; peers apply it with Kuzzle's cache asks. */
export interface IndexCacheChange {
  scope: 'public' | 'private';
  index: string;
  collection?: string;
}

export function parseIndexCacheChange(body: unknown): IndexCacheChange | undefined {
  if (!isObject(body) || !isName(body.index)) return undefined;
  if (body.scope !== 'public' && body.scope !== 'private') return undefined;
  if (body.collection !== undefined && !isName(body.collection)) return undefined;
  return { scope: body.scope, index: body.index, collection: body.collection };
}

/** Index → collections, without a prototype: any index name is a plain key ("__proto__", "constructor"). */
export function indexTable(): Record<string, string[]> {
  return Object.create(null) as Record<string, string[]>;
}

/** A peer's public index cache: index → collections. */
export function parseIndexSnapshot(body: unknown): { indexes: Record<string, string[]> } | undefined {
  const indexes = isObject(body) ? body.indexes : undefined;
  if (!isObject(indexes)) return undefined;
  const snapshot = indexTable();
  for (const [index, collections] of Object.entries(indexes)) {
    if (!isName(index) || !Array.isArray(collections) || !collections.every(isName)) return undefined;
    snapshot[index] = collections;
  }
  return { indexes: snapshot };
}

type Kind = 'role' | 'profile';

/** Which roles/profiles to drop from the peers' caches; no ids means all of them. */
export interface SecurityInvalidation {
  kind: Kind | 'all';
  ids?: string[];
}

/** Most ids in one invalidation: more are sent as "all of that kind" (see {@link boundedInvalidation}). */
export const MAX_INVALIDATED_IDS = 1000;

/** An invalidation within the bound peers accept: too many ids become all of that kind, which is what they meant and more. */
export function boundedInvalidation(change: SecurityInvalidation): SecurityInvalidation {
  return change.ids && change.ids.length > MAX_INVALIDATED_IDS ? { kind: change.kind } : change;
}

export function parseSecurityInvalidation(body: unknown): SecurityInvalidation | undefined {
  if (!isObject(body)) return undefined;
  if (body.kind !== 'role' && body.kind !== 'profile' && body.kind !== 'all') return undefined;
  if (body.ids !== undefined && !(Array.isArray(body.ids) && body.ids.length <= MAX_INVALIDATED_IDS && body.ids.every(isName))) return undefined;
  return { kind: body.kind, ids: body.ids };
}

/**
 * One revoked token, or every token of a user. A token's id embeds the JWT
 * (`<kuid>#<jwt>` in Kuzzle 2.10): only a hash of the token's index in
 * Kuzzle's token manager (`<expiresAt>;<id>`) travels between nodes.
 */
export type TokenRevocation = { tokenHash: string; expiresAt?: number } | { kuid: string };

const isTokenHash = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
/** A token's expiry, which starts its index (see entriesFiledAs): epoch ms, or -1 for an API key that never expires. */
const isExpiry = (value: unknown): value is number => Number.isSafeInteger(value);

export function parseTokenRevocation(body: unknown): TokenRevocation | undefined {
  if (!isObject(body)) return undefined;
  if (isName(body.kuid)) return { kuid: body.kuid };
  if (!isTokenHash(body.tokenHash)) return undefined;
  // Without an expiry (a node of an earlier build of this protocol), every entry is hashed.
  if (body.expiresAt === undefined) return { tokenHash: body.tokenHash };
  return isExpiry(body.expiresAt) ? { tokenHash: body.tokenHash, expiresAt: body.expiresAt } : undefined;
}

/** A refreshed token: the old one's hash and expiry, the new one sealed for the old one's holders (token-seal.ts). */
export interface TokenRefresh {
  tokenHash: string;
  expiresAt: number;
  sealed: string;
}

/** A sealed token is a few hundred bytes (a JWT and its user id); this leaves room for long user ids. */
const MAX_SEALED_LENGTH = 16_384;

export function parseTokenRefresh(body: unknown): TokenRefresh | undefined {
  if (!isObject(body) || !isTokenHash(body.tokenHash) || !isExpiry(body.expiresAt)) return undefined;
  const { sealed } = body;
  if (typeof sealed !== 'string' || sealed.length > MAX_SEALED_LENGTH || !/^[A-Za-z0-9+/]+={0,2}$/.test(sealed)) return undefined;
  return { tokenHash: body.tokenHash, expiresAt: body.expiresAt, sealed };
}

/** An authentication strategy a plugin added or removed at run time. */
export interface StrategyChange {
  name: string;
  pluginName: string;
  /** The plain description given to `context.accessors.strategies.add` (method names, config). */
  strategy?: Record<string, unknown>;
  /** A removal's own id: tells a node which removals it already found at its start (see StrategySync). */
  removal?: string;
}

export function parseStrategyChange(body: unknown): StrategyChange | undefined {
  if (!isObject(body) || !isName(body.name) || !isName(body.pluginName)) return undefined;
  if (body.strategy !== undefined && !isObject(body.strategy)) return undefined;
  if (body.removal !== undefined && !(typeof body.removal === 'string' && /^[0-9a-f]{32}$/.test(body.removal))) return undefined;
  const change: StrategyChange = { name: body.name, pluginName: body.pluginName, strategy: body.strategy };
  if (body.removal !== undefined) change.removal = body.removal;
  return change;
}

/** A dump suffix becomes part of a folder name: no separators, no `..`. */
const SAFE_SUFFIX = /^[\w-][\w.-]{0,99}$/;

export function parseDumpRequest(body: unknown): { suffix: string } | undefined {
  return isObject(body) && isName(body.suffix) && SAFE_SUFFIX.test(body.suffix) && !body.suffix.includes('..')
    ? { suffix: body.suffix }
    : undefined;
}

export interface AppEvent {
  event: string;
  payload: unknown;
}

export function parseAppEvent(body: unknown): AppEvent | undefined {
  if (!isObject(body) || !isName(body.event)) return undefined;
  return { event: body.event, payload: body.payload };
}

/**
 * Kuzzle-wide sync messages, all prefixed `kuzzle:`. Requests are the
 * changes an API action waits for (every peer applied them before the client
 * gets its answer); broadcasts are fire-and-forget.
 */
export const KUZZLE_MESSAGES = {
  'kuzzle:index:add': request(parseIndexCacheChange, parseEmpty),
  'kuzzle:index:remove': request(parseIndexCacheChange, parseEmpty),
  'kuzzle:index:snapshot': request(parseEmpty, parseIndexSnapshot),
  'kuzzle:security:invalidate': request(parseSecurityInvalidation, parseEmpty),
  'kuzzle:token:revoke': request(parseTokenRevocation, parseEmpty),
  'kuzzle:token:recheck': request(parseEmpty, parseEmpty),
  'kuzzle:token:refresh': request(parseTokenRefresh, parseEmpty),
  'kuzzle:validation:reload': request(parseEmpty, parseEmpty),
  'kuzzle:strategy:add': broadcast(parseStrategyChange),
  'kuzzle:strategy:remove': broadcast(parseStrategyChange),
  'kuzzle:admin:dump': broadcast(parseDumpRequest),
  'kuzzle:admin:shutdown': broadcast(parseEmpty),
  'kuzzle:app:event': broadcast(parseAppEvent),
} as const;

export type KuzzleMessages = typeof KUZZLE_MESSAGES;
