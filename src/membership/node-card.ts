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
  return {
    id: card.id,
    addresses: { router: addresses.router, pub: addresses.pub, ...(addresses.curveKey === undefined ? {} : { curveKey: addresses.curveKey }) },
    incarnation: card.incarnation,
    startedAt: card.startedAt,
    protocol: card.protocol,
    kuzzleVersion: typeof card.kuzzleVersion === 'string' ? card.kuzzleVersion.slice(0, 50) : undefined,
  };
}

/** Whether two cards name the same sockets and server key: all three. */
export function sameAddresses(a: NodeCard, b: NodeCard): boolean {
  return a.addresses.router === b.addresses.router && a.addresses.pub === b.addresses.pub && a.addresses.curveKey === b.addresses.curveKey;
}

/**
 * Whether two cards share a socket: two live nodes cannot bind one port, so
 * the older card belongs to a node that died and was restarted on its ports.
 */
export function shareASocket(a: NodeCard, b: NodeCard): boolean {
  return a.addresses.router === b.addresses.router || a.addresses.pub === b.addresses.pub;
}
