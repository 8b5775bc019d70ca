import { createHmac, timingSafeEqual } from 'crypto';
import type { CurveKeys } from '../transport/curve-keys';
import { agreedKey } from '../transport/key-agreement';
import type { NodeCard } from './node-card';

const LABEL = 'kpc card v1';

/** Why a card read from the store is not trusted. */
export type CardRefusal =
  /** It names a CURVE server key this node does not accept (a Redis writer's own key). */
  | 'serverKey'
  /** It carries no proof for this node's cluster key. */
  | 'unsealed'
  /** Its proof does not match its content: forged, or altered after it was sealed. */
  | 'forged'
  /**
   * It gives a node this one knows another identity key: a node keeps its
   * key for its whole life (a new process has a new id), so this card was
   * made by someone else holding the cluster key, to speak in its name.
   */
  | 'identityChanged'
  /**
   * A node id not met yet while this node already pins the identity keys
   * of as many ids as it keeps, all read recently: a flood of cards from
   * someone holding the cluster key. Forgetting a pin in use would let the
   * flood give a live node another identity.
   */
  | 'pinsFull';

/** Every field a peer relies on, in a fixed order. */
function sealedContent(card: NodeCard): string {
  const { id, incarnation, startedAt, protocol, kuzzleVersion, addresses, identityKey } = card;
  return JSON.stringify([id, incarnation, startedAt, protocol, kuzzleVersion ?? null, addresses.router, addresses.pub, addresses.curveKey ?? null, identityKey ?? null]);
}

const proof = (key: Buffer, card: NodeCard): Buffer => createHmac('sha256', key).update(sealedContent(card)).digest();

/**
 * Seals a card for every cluster key this node accepts: for each such key
 * X, a MAC under the key agreed between this node's cluster secret and X.
 * A node holding the secret of X computes the same key from its side (with
 * the signer's server key, which is its cluster public key), so during a
 * rollover nodes on the old and on the new key check each other's cards,
 * and nobody without a cluster secret can make or alter one.
 */
export function sealCard(card: NodeCard, keys: CurveKeys): NodeCard {
  const proofs: Record<string, string> = {};
  for (const reader of new Set(keys.accepted)) proofs[reader] = proof(agreedKey(keys.secretKey, reader, LABEL), card).toString('base64');
  return { ...card, proofs };
}

/** Undefined when `card` is sealed by a holder of a cluster key this node accepts; else why not. */
export function checkCard(card: NodeCard, keys: CurveKeys): CardRefusal | undefined {
  const serverKey = card.addresses.curveKey;
  if (serverKey === undefined || !keys.accepted.includes(serverKey)) return 'serverKey';
  const claimed = card.proofs?.[keys.publicKey];
  if (claimed === undefined) return 'unsealed';
  let expected: Buffer;
  try {
    expected = proof(agreedKey(keys.secretKey, serverKey, LABEL), card);
  } catch {
    return 'forged';
  }
  const given = Buffer.from(claimed, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'forged';
}
