import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { renderMetrics } from '../../src/api/prometheus';
import { curveKeysOf } from '../../src/cluster/exposure';
import { sealCard } from '../../src/membership/card-seal';
import type { NodeCard } from '../../src/membership/node-card';
import { NodeIdentities } from '../../src/membership/node-identities';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { RemoteHandlerError } from '../../src/transport/errors';
import { waitFor } from '../harness/wait';
import { MemoryCluster, type MemoryNode } from '../support/memory-cluster';

const clusterKey = curveKeyPair();
const memberIds = (member: MemoryNode): string[] => member.node.status().peers.map((peer) => peer.id).sort();

/** Writes a card straight into the shared state, as a Redis writer would. */
function plant(cluster: MemoryCluster, card: NodeCard): void {
  cluster.server.cards.set(card.id, { card, expiresAt: Date.now() + 3_600_000 });
}

describe('ClusterNode trust on doubles (CURVE set)', () => {
  let cluster: MemoryCluster;

  afterEach(async () => {
    await cluster.stopAll();
  });

  it('nodes holding the key seal their cards and join each other; a Redis writer\'s cards are ignored, counted and logged once', async () => {
    cluster = new MemoryCluster({ curve: { secretKey: clusterKey.secretKey }, insecure: false });
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitFor('a and b members', () => memberIds(a).length === 1 && memberIds(b).length === 1);
    assert.equal(a.node.status().trust.sealed, true);
    const stranger = curveKeyPair();
    // Its own sockets and key; a copy of b's card with its PUB re-pointed; a card without a seal.
    const own: NodeCard = { id: 'intruder', incarnation: 1, startedAt: 1, protocol: PROTOCOL_VERSION, addresses: { router: 'tcp://memory/intruder/router', pub: 'tcp://memory/intruder/pub', curveKey: stranger.publicKey }, identityKey: stranger.publicKey };
    plant(cluster, sealCard(own, curveKeysOf({ secretKey: stranger.secretKey, accept: [] })));
    const bCard = cluster.server.cards.get(b.id)?.card;
    assert.ok(bCard);
    plant(cluster, { ...bCard, id: 'repointed', addresses: { ...bCard.addresses, pub: 'tcp://memory/intruder/pub' } });
    plant(cluster, { ...own, id: 'unsealed', addresses: { ...own.addresses, curveKey: clusterKey.publicKey } });
    await waitFor('the three refusals counted', () => {
      const { refusedCards } = a.node.status().trust;
      return refusedCards.serverKey === 1 && refusedCards.forged === 1 && refusedCards.unsealed === 1;
    });
    // Several discovery rounds later: still once each, nobody joined, nothing sent to them.
    const joinsBefore = a.node.status().messages.sentByType.join ?? 0;
    // Each renewal of a's card is followed by a discovery round.
    const renewedAt = cluster.server.cards.get(a.id)?.expiresAt ?? 0;
    await waitFor('a few more discovery rounds', () => (cluster.server.cards.get(a.id)?.expiresAt ?? 0) > renewedAt + 4 * cluster.options.timers.heartbeat);
    assert.deepEqual(a.node.status().trust.refusedCards, { serverKey: 1, forged: 1, unsealed: 1, identityChanged: 0, pinsFull: 0 });
    assert.equal(a.node.status().messages.sentByType.join ?? 0, joinsBefore, 'no join sent to a planted card');
    assert.deepEqual(memberIds(a), [b.id]);
    assert.equal(a.logs.filter((log) => /card of intruder/.test(log.message)).length, 1, 'logged once');
    const metrics = renderMetrics(await a.node.metrics());
    assert.match(metrics, /kpc_cards_refused_total\{reason="forged"\} 1/);
  });

  it('a node holding the key cannot send requests in another member\'s name: refused as unauthenticated, the member is untouched', async () => {
    cluster = new MemoryCluster({ curve: { secretKey: clusterKey.secretKey } });
    const [a, victim] = [await cluster.start(), await cluster.start()];
    await waitFor('a mesh', () => memberIds(a).length === 1);
    // An insider: the cluster key, a registered and sealed card, its own identity.
    const insiderIdentity = new NodeIdentities(async () => undefined);
    const transport = cluster.network.transport('insider');
    transport.setSigner((peer, input) => insiderIdentity.sign(peer, input));
    const aCard = cluster.server.cards.get(a.id)?.card;
    assert.ok(aCard);
    insiderIdentity.remember(aCard);
    const keys = curveKeysOf({ secretKey: clusterKey.secretKey, accept: [] });
    plant(cluster, sealCard({ id: 'insider', incarnation: 99, startedAt: 1, protocol: PROTOCOL_VERSION, addresses: { router: 'tcp://memory/insider/router', pub: 'tcp://memory/insider/pub', curveKey: keys.publicKey }, identityKey: insiderIdentity.own.publicKey }, keys));
    const before = a.node.status().messages.dropped.unauthenticated;
    for (const type of ['node:accused', 'reset:local', 'member:check'] as const) {
      await assert.rejects(
        transport.requestAs(victim.id, a.id, type, { id: victim.id, incarnation: victim.node.status().node.incarnation }, 2000),
        (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_UNAUTHENTICATED',
        type,
      );
    }
    assert.equal(a.node.status().messages.dropped.unauthenticated, before + 3);
    assert.deepEqual(memberIds(a), [victim.id]);
    assert.equal(victim.node.status().node.rejoins, 0, 'the victim was not made to rejoin');

    // It holds the key and writes Redis: a sealed card under the victim's id, a newer incarnation, its own identity and sockets.
    const victimCard = cluster.server.cards.get(victim.id)?.card;
    assert.ok(victimCard);
    const forged = sealCard({ ...victimCard, incarnation: victimCard.incarnation + 100, identityKey: insiderIdentity.own.publicKey, addresses: { ...victimCard.addresses, router: 'tcp://memory/insider/router', pub: 'tcp://memory/insider/pub' } }, keys);
    // The victim renews its own card under the same key: the insider plants
    // its card again until a has read it (a read between a renewal and the
    // next plant would otherwise never come).
    await waitFor('the card refused for changing a known node\'s identity', () => {
      if (a.node.status().trust.refusedCards.identityChanged === 1) return true;
      plant(cluster, forged);
      return false;
    });
    await assert.rejects(
      transport.requestAs(victim.id, a.id, 'member:check', {}, 2000),
      (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_UNAUTHENTICATED',
      'its requests in the victim\'s name are still refused',
    );
    assert.deepEqual(memberIds(a), [victim.id]);
    assert.ok(a.logs.some((log) => /another identity key/.test(log.message)));
  });

  it('a live node of another wire protocol: a new node refuses to start, naming both versions; a running one shows it', async () => {
    cluster = new MemoryCluster({ curve: { secretKey: clusterKey.secretKey } });
    const a = await cluster.start();
    plant(cluster, { id: 'old-node', incarnation: 1, startedAt: 1, protocol: PROTOCOL_VERSION - 1, addresses: { router: 'tcp://memory/old/router', pub: 'tcp://memory/old/pub' } });
    await assert.rejects(cluster.start('newcomer'), (error: unknown) => {
      const message = error instanceof Error ? error.message : '';
      return message.includes(`old-node (wire protocol ${PROTOCOL_VERSION - 1})`) && message.includes(`this node (wire protocol ${PROTOCOL_VERSION})`) && /Upgrading/.test(message);
    });
    await waitFor('the running node shows it', () => a.node.status().trust.foreignProtocols['old-node'] === PROTOCOL_VERSION - 1);
    assert.match(renderMetrics(await a.node.metrics()), /kpc_foreign_protocol_nodes 1/);
    assert.ok(a.logs.some((log) => log.level === 'error' && log.message.includes(`old-node runs wire protocol ${PROTOCOL_VERSION - 1}`)));
  });
});
