import { isId } from '../transport/codec';
import { isCurveKey } from '../transport/curve-keys';
import type { NodeAddresses } from '../transport/envelope';

/** What a node publishes about itself in Redis so that peers can find it. */
export interface NodeCard {
  id: string;
  addresses: NodeAddresses;
  /** Grows each time the node starts or joins again after being presumed dead. */
  incarnation: number;
  /** Epoch ms when the node's plugin started. */
  startedAt: number;
  /** Wire protocol version; nodes of another version are ignored. */
  protocol: number;
  /** Kuzzle version of the node, shown by the status route. */
  kuzzleVersion?: string;
  /**
   * The node's own public key (X25519, Z85), made at each process start:
   * its requests carry a MAC only the holder of the secret half can make
   * (see NodeIdentities).
   */
  identityKey?: string;
  /**
   * With CURVE: the card's seal, one proof per cluster key the node accepts
   * (public key → MAC of the card under a key agreed between the two
   * cluster keys), see card-seal.ts.
   */
  proofs?: Record<string, string>;
}

/** At most this many proofs: one per key of a rollover, with room to spare. */
export const MAX_PROOFS = 8;
const isProof = (value: unknown): value is string => typeof value === 'string' && /^[A-Za-z0-9+/]{43}=$/.test(value);

function parseProofs(value: unknown): Record<string, string> | undefined | false {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  if (entries.length > MAX_PROOFS || !entries.every(([key, proof]) => isCurveKey(key) && isProof(proof))) return false;
  return Object.fromEntries(entries) as Record<string, string>;
}

/** The key a node's realtime entries are stored under in Redis: one per incarnation. */
export function ownerOf(card: Pick<NodeCard, 'id' | 'incarnation'>): string {
  return `${card.id}#${card.incarnation}`;
}

/** The node and incarnation an owner key names (see {@link ownerOf}); node ids never hold `#`. */
export function parseOwner(owner: string): Pick<NodeCard, 'id' | 'incarnation'> {
  const at = owner.lastIndexOf('#');
  return { id: owner.slice(0, at), incarnation: Number(owner.slice(at + 1)) };
}

const isAddress = (value: unknown): value is string => typeof value === 'string' && /^tcp:\/\/\S{1,300}$/.test(value);

/** Parses a card read from Redis or received from a peer; undefined if malformed. */
export function parseNodeCard(value: unknown): NodeCard | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const card = value as Record<string, unknown>;
  const addresses = card.addresses as Record<string, unknown> | undefined;
  if (
    !isId(card.id) ||
    card.id.includes('#') ||
    typeof card.startedAt !== 'number' ||
    typeof card.protocol !== 'number' ||
    typeof card.incarnation !== 'number' ||
    !Number.isSafeInteger(card.incarnation) ||
    card.incarnation < 1 ||
    typeof addresses !== 'object' ||
    addresses === null ||
    !isAddress(addresses.router) ||
    !isAddress(addresses.pub)
  ) {
    return undefined;
  }
  if (addresses.curveKey !== undefined && !isCurveKey(addresses.curveKey)) return undefined;
  if (card.identityKey !== undefined && !isCurveKey(card.identityKey)) return undefined;
  const proofs = parseProofs(card.proofs);
  if (proofs === false) return undefined;
  return {
    id: card.id,
    addresses: { router: addresses.router, pub: addresses.pub, ...(addresses.curveKey === undefined ? {} : { curveKey: addresses.curveKey }) },
    incarnation: card.incarnation,
    startedAt: card.startedAt,
    protocol: card.protocol,
    kuzzleVersion: typeof card.kuzzleVersion === 'string' ? card.kuzzleVersion.slice(0, 50) : undefined,
    ...(card.identityKey === undefined ? {} : { identityKey: card.identityKey }),
    ...(proofs === undefined ? {} : { proofs }),
  };
}

/** Whether two cards name the same sockets, server key and identity key: all four. */
export function sameSocketsAndKeys(a: NodeCard, b: NodeCard): boolean {
  return (
    a.addresses.router === b.addresses.router &&
    a.addresses.pub === b.addresses.pub &&
    a.addresses.curveKey === b.addresses.curveKey &&
    a.identityKey === b.identityKey
  );
}

/**
 * Whether two cards share a socket: two live nodes cannot bind one port, so
 * the older card belongs to a node that died and was restarted on its ports.
 */
export function shareASocket(a: NodeCard, b: NodeCard): boolean {
  return a.addresses.router === b.addresses.router || a.addresses.pub === b.addresses.pub;
}
