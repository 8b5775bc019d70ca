import { createPrivateKey, createPublicKey } from 'crypto';
import { z85Decode, z85Encode } from '../util/z85';
import { PKCS8_PREFIX } from './key-agreement';

/**
 * The CURVE key material of a cluster: one key pair shared by every node
 * (each node serves with it and presents it to its peers), plus public keys
 * also accepted from peers while the cluster rolls over to a new pair.
 */
export interface CurveKeys {
  publicKey: string;
  secretKey: string;
  /** Public keys accepted from connecting peers: the own public key, and those of `accept`. */
  accepted: string[];
}


/** Whether `key` is a Z85 CURVE key (40 characters, 32 bytes). */
export function isCurveKey(key: unknown): key is string {
  return typeof key === 'string' && key.length === 40 && z85Decode(key) !== undefined;
}

/** The public key of a CURVE secret key (X25519, as libzmq computes it). */
export function curvePublicKey(secretKey: string): string {
  const secret = z85Decode(secretKey);
  if (!secret || secret.length !== 32) throw new TypeError('not a Z85 CURVE secret key');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  return z85Encode(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).slice(-32));
}
