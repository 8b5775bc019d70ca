import { createHmac, createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'crypto';
import { z85Decode } from '../util/z85';

/** DER prefixes of X25519 keys (PKCS#8 private, SPKI public): the raw 32 bytes follow. */
export const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

function raw(key: string, what: string): Buffer {
  const bytes = z85Decode(key);
  if (!bytes || bytes.length !== 32) throw new TypeError(`not a Z85 CURVE ${what} key`);
  return bytes;
}

const privateKeys = new Map<string, KeyObject>();

function privateKeyOf(secretKey: string): KeyObject {
  let key = privateKeys.get(secretKey);
  if (!key) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw(secretKey, 'secret')]), format: 'der', type: 'pkcs8' });
    // A process holds a handful of secret keys (the cluster's, its own): the cache stays small.
    privateKeys.set(secretKey, key);
  }
  return key;
}

/**
 * A 32-byte key that only the holders of `secretKey` and of the secret of
 * `publicKey` can compute (X25519, then HMAC-SHA256 keyed by the shared
 * secret over `label`, so that each use gets its own key). The same
 * exchange CURVE does, on the same keys: whoever holds the secret of the
 * other side's public key computes the same value from its side.
 *
 * @throws TypeError on a key that is not Z85 of 32 bytes, or a public key
 * of low order (its shared secret would be all zeros, known to anyone).
 */
export function agreedKey(secretKey: string, publicKey: string, label: string): Buffer {
  const id = `${secretKey}\n${publicKey}\n${label}`;
  const known = agreedKeys.get(id);
  if (known) return known;
  const key = agree(secretKey, publicKey, label);
  // Map order is insertion order: the oldest goes first.
  if (agreedKeys.size >= MAX_AGREED_KEYS) agreedKeys.delete(agreedKeys.keys().next().value as string);
  agreedKeys.set(id, key);
  return key;
}

/**
 * Keys already agreed. Cards are checked against the same few cluster keys
 * every time they are read (a CPU profile showed a fresh X25519 exchange
 * per card read taking 2 to 3 % of a node); bounded, since a public key
 * may come from what a Redis writer planted.
 */
const agreedKeys = new Map<string, Buffer>();
const MAX_AGREED_KEYS = 256;

function agree(secretKey: string, publicKey: string, label: string): Buffer {
  const peer = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw(publicKey, 'public')]), format: 'der', type: 'spki' });
  const shared = diffieHellman({ privateKey: privateKeyOf(secretKey), publicKey: peer });
  if (shared.every((byte) => byte === 0)) throw new TypeError('a public key of low order');
  return createHmac('sha256', shared).update(label).digest();
}
