import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'crypto';
import { isNonEmptyString as isName, isObject } from '../../util/guards';

/** A token as Kuzzle's token manager files it (Kuzzle 2.10's Token, without its connection). */
export interface TokenFields {
  /** `<kuid>#<jwt>` */
  _id: string;
  userId: string;
  jwt: string;
  expiresAt: number;
  ttl: number;
}

/** The key Kuzzle's token manager files a token under (`getTokenIndex` in its tokenManager.js). */
export function tokenIndex(token: { _id: string | null; expiresAt: number }): string {
  return `${token.expiresAt};${token._id ?? ''}`;
}

/** Hash of a token's index: how a token is named to the peers (its index embeds the JWT). */
export const hashTokenIndex = (index: string): string => createHash('sha256').update(index).digest('hex');

/**
 * The entries of Kuzzle's token manager filed under the token whose index
 * hashes to `tokenHash`. Its array is sorted by index, which starts with the
 * expiry: given the expiry (not a secret: the JWT is), a binary search finds
 * the few entries to hash, instead of hashing every connection's entry for
 * each message (a node may hold 100,000).
 */
export function entriesFiledAs<T extends { idx: string }>(array: readonly T[], tokenHash: string, expiresAt?: number): T[] {
  if (expiresAt === undefined) return array.filter((entry) => hashTokenIndex(entry.idx) === tokenHash);
  const prefix = `${expiresAt};`;
  const found: T[] = [];
  for (let at = lowerBound(array, prefix); at < array.length; at++) {
    const entry = array[at];
    if (!entry?.idx.startsWith(prefix)) break;
    if (hashTokenIndex(entry.idx) === tokenHash) found.push(entry);
  }
  return found;
}

/** Where the entry filed under `index` is in Kuzzle's sorted token array, or -1. */
export function positionOf(array: ReadonlyArray<{ idx: string }>, index: string): number {
  const at = lowerBound(array, index);
  return array[at]?.idx === index ? at : -1;
}

/** The first position whose index is not below `index`, comparing as Kuzzle's sorted array does. */
function lowerBound(array: ReadonlyArray<{ idx: string }>, index: string): number {
  let low = 0;
  let high = array.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((array[middle]?.idx ?? '') < index) low = middle + 1;
    else high = middle;
  }
  return low;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Separates this key from any other use of the same index (the lookup hash is a plain SHA-256 of it). */
const KEY_LABEL = 'kuzzle-plugin-cluster: a refreshed token, for the holders of the one it replaces';

/**
 * The key a refreshed token is sealed with: derived from the index of the
 * token it replaces, which embeds that token's JWT, so only a node that
 * holds the old token can read the new one. HMAC rather than HKDF: Node 12
 * has no `hkdfSync`.
 */
function keyOf(oldIndex: string): Buffer {
  return createHmac('sha256', oldIndex).update(KEY_LABEL).digest();
}

/** Seals `token` (AES-256-GCM) for the holders of the token filed under `oldIndex`; base64. */
export function sealToken(oldIndex: string, token: TokenFields): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyOf(oldIndex), iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(token), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
}

/** The token `sealed` holds, or undefined when it was not sealed for `oldIndex`, was altered, or is not a token. */
export function openToken(oldIndex: string, sealed: string): TokenFields | undefined {
  const bytes = Buffer.from(sealed, 'base64');
  if (bytes.length <= IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(oldIndex), bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    return asToken(JSON.parse(plain.toString('utf8')));
  } catch {
    return undefined;
  }
}

function asToken(value: unknown): TokenFields | undefined {
  if (!isObject(value) || !isName(value.userId) || !isName(value.jwt)) return undefined;
  const { _id: id, userId, jwt, expiresAt, ttl } = value;
  if (id !== `${userId}#${jwt}` || typeof expiresAt !== 'number' || typeof ttl !== 'number') return undefined;
  return { _id: id, userId, jwt, expiresAt, ttl };
}
