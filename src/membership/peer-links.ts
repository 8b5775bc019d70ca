import type { NodeAddresses } from '../transport/envelope';
import type { Transport } from '../transport/transport';

/**
 * What membership needs from the links to its peers, and nothing more: it
 * opens and closes them, stamps its incarnation on what it sends, hears of
 * a connection closed by the other side, and learns whether anything was
 * broadcast lately (which spares a heartbeat). The transport provides it
 * (see `cluster/`); unit tests hand in a double.
 */
export interface PeerLinks {
  /** Opens (or re-points) the links to a peer. */
  connect(peerId: string, addresses: NodeAddresses): void;
  disconnect(peerId: string): void;
  /** Stamped on every message sent from now on. */
  setIncarnation(incarnation: number): void;
  /** A peer's connection was closed by the other side (its process died, or the network cut it). */
  onDisconnect(handler: (peerId: string) => void): void;
  /** Broadcasts sent so far by this node, from any layer. */
  broadcastsSent(): number;
  /** Whether this node holds a peer's broadcasts unread now (too many of its broadcasts in hand here). */
  holding(peerId: string): boolean;
}

/** The links of a {@link Transport}: what membership may touch of it. */
export function peerLinksOver(transport: Transport): PeerLinks {
  return {
    connect: (peerId, addresses) => transport.connect(peerId, addresses),
    disconnect: (peerId) => transport.disconnect(peerId),
    setIncarnation: (incarnation) => transport.setIncarnation(incarnation),
    onDisconnect: (handler) => transport.onDisconnect(handler),
    broadcastsSent: () => transport.published(),
    holding: (peerId) => transport.holding(peerId),
  };
}
