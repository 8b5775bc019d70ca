import type { NodeAddresses } from '../transport/envelope';

/** What a node publishes about itself in Redis so that peers can find it. */
export interface NodeCard {
  id: string;
  addresses: NodeAddresses;
  /** Epoch ms when the node's plugin started. */
  startedAt: number;
  /** Wire protocol version; nodes of another version are ignored. */
  protocol: number;
  /** Kuzzle version of the node, shown by the status route. */
  kuzzleVersion?: string;
}

/** Parses a card read from Redis or received from a peer; undefined if malformed. */
export function parseNodeCard(value: unknown): NodeCard | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const card = value as Record<string, unknown>;
  const addresses = card.addresses as Record<string, unknown> | undefined;
  if (
    typeof card.id !== 'string' ||
    card.id === '' ||
    typeof card.startedAt !== 'number' ||
    typeof card.protocol !== 'number' ||
    typeof addresses !== 'object' ||
    addresses === null ||
    typeof addresses.router !== 'string' ||
    typeof addresses.pub !== 'string'
  ) {
    return undefined;
  }
  return {
    id: card.id,
    addresses: { router: addresses.router, pub: addresses.pub },
    startedAt: card.startedAt,
    protocol: card.protocol,
    kuzzleVersion: typeof card.kuzzleVersion === 'string' ? card.kuzzleVersion : undefined,
  };
}
