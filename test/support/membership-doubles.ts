import type { NodeCard } from '../../src/membership/node-card';
import type { PeerLinks } from '../../src/membership/peer-links';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';

/** A node card on loopback: ROUTER on `port`, PUB on the next one. */
export const cardOf = (id: string, incarnation = 1, port = 7510): NodeCard => ({
  id,
  addresses: { router: `tcp://127.0.0.1:${port}`, pub: `tcp://127.0.0.1:${port + 1}` },
  incarnation,
  startedAt: 0,
  protocol: PROTOCOL_VERSION,
});

/** Peer links that record which peers are linked, and nothing else. */
export function recordedLinks(linked = new Set<string>()): PeerLinks & { linked: Set<string> } {
  return {
    linked,
    connect: (peerId) => void linked.add(peerId),
    disconnect: (peerId) => void linked.delete(peerId),
    setIncarnation: () => undefined,
    onDisconnect: () => undefined,
    broadcastsSent: () => 0,
    holding: () => false,
  };
}
