import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel } from '../../src/bus/message-bus';
import type { CardStore } from '../../src/membership/card-store';
import { JoinProtocol } from '../../src/membership/join-protocol';
import { MemberTable } from '../../src/membership/member-table';
import type { MEMBERSHIP_MESSAGES } from '../../src/membership/messages';
import type { NodeCard } from '../../src/membership/node-card';
import type { PeerLinks } from '../../src/membership/peer-links';
import { SelfCard } from '../../src/membership/self-card';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';

const cardOf = (id: string, port: number): NodeCard => ({
  id,
  addresses: { router: `tcp://127.0.0.1:${port}`, pub: `tcp://127.0.0.1:${port + 1}` },
  incarnation: 1,
  startedAt: 0,
  protocol: PROTOCOL_VERSION,
});

/** Links that record what they were asked; cards in a map. */
function joinProtocol(discoverTimeoutMs: number) {
  const linked = new Set<string>();
  const links: PeerLinks = {
    connect: (peerId) => void linked.add(peerId),
    disconnect: (peerId) => void linked.delete(peerId),
    setIncarnation: () => undefined,
    onDisconnect: () => undefined,
    broadcastsSent: () => 0,
  };
  const registered = new Map<string, NodeCard>();
  const cards: CardStore = {
    register: async (card) => void registered.set(card.id, card),
    unregister: async (id) => void registered.delete(id),
    list: async () => [...registered.values()],
    get: async (id) => registered.get(id),
    renewedAt: async (id) => (registered.has(id) ? Date.now() : undefined),
    nextIncarnation: async () => 2,
  };
  const log = (): void => undefined;
  const table = new MemberTable(links, () => undefined, { discoverTimeoutMs, log });
  const self = new SelfCard(cardOf('self', 7510), cards, links);
  // accept() sends nothing: a channel is not needed to answer a join.
  const channel = {} as Channel<typeof MEMBERSHIP_MESSAGES>;
  const protocol = new JoinProtocol(table, self, links, cards, channel, () => undefined, async () => undefined, { discoverTimeoutMs, joinAttemptIntervalMs: 1000, log });
  return { protocol, table, linked, registered };
}

describe('JoinProtocol', () => {
  it('a join this node never hears the joiner of fails, and drops the link it made to answer it', async () => {
    const { protocol, table, linked, registered } = joinProtocol(50);
    const joiner = cardOf('joiner', 7520);
    registered.set(joiner.id, joiner);
    await assert.rejects(protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation }), /nothing heard from/);
    assert.equal(table.has(joiner.id), false);
    assert.equal(linked.has(joiner.id), false, 'no link left reconnecting to a node that is not a member');
  });

  it('a join it hears the joiner of succeeds and keeps the link', async () => {
    const { protocol, table, linked, registered } = joinProtocol(5000);
    const joiner = cardOf('joiner', 7520);
    registered.set(joiner.id, joiner);
    const accepted = protocol.accept(joiner, { id: joiner.id, incarnation: joiner.incarnation });
    await new Promise<void>((resolve) => setImmediate(resolve));
    protocol.heardFrom(joiner.id);
    assert.equal((await accepted).card.id, 'self');
    assert.equal(table.has(joiner.id), true);
    assert.equal(linked.has(joiner.id), true);
  });
});
