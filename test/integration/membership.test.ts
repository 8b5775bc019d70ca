import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';

import { Membership, type PeerRemovalReason } from '../../src/membership/membership';
import type { NodeCard } from '../../src/membership/node-card';
import { NodeRegistry } from '../../src/membership/node-registry';
import { createRedisClient } from '../../src/state/redis-client';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { RemoteHandlerError } from '../../src/transport/errors';
import { ZmqTransport } from '../../src/transport/zmq-transport';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedis, type RunningRedis } from '../harness/redis-server';
import { newRunDir } from '../harness/run-dir';
import { waitFor } from '../harness/wait';

killManagedProcessesOnSignal();

const TIMERS = { heartbeatMs: 100, heartbeatTimeoutMs: 500, discoverTimeoutMs: 2000, joinAttemptIntervalMs: 200 };
/** As ClusterNode does: a card outlives two heartbeat timeouts. */
const CARD_TTL_MS = TIMERS.heartbeatTimeoutMs * 2;
/** Slack for the event loop and the sockets on a loaded CI machine. */
const MARGIN_MS = 1500;

interface TestNode {
  id: string;
  card: NodeCard;
  transport: ZmqTransport;
  redis: Redis | Cluster;
  registry: NodeRegistry;
  membership: Membership;
  added: string[];
  removed: Array<{ id: string; reason: PeerRemovalReason; at: number }>;
  logs: string[];
}

describe('Membership (real Redis, real ZeroMQ)', () => {
  let server: RunningRedis | undefined;
  const prefix = `kpc-test-${randomUUID()}`;
  const nodes: TestNode[] = [];
  /** Nodes still members of the cluster (not crashed, not stopped). */
  const live = (): TestNode[] => nodes.filter((n) => !crashedOrLeft.has(n.id));
  const crashedOrLeft = new Set<string>();

  before(async () => {
    server = await startRedis(newRunDir('membership'));
  });

  after(async () => {
    await Promise.allSettled(nodes.map((node) => node.membership.stop(false)));
    await Promise.allSettled(nodes.map((node) => node.transport.close()));
    for (const node of nodes) node.redis.disconnect();
    await server?.stop();
  });

  function registryOf(redis: Redis | Cluster): NodeRegistry {
    return new NodeRegistry(redis, prefix, CARD_TTL_MS);
  }

  /** Builds a node wired like ClusterNode does, without starting its membership. */
  async function createNode(name: string): Promise<TestNode> {
    assert.ok(server, 'redis is running');
    const id = `${name}-${randomUUID()}`;
    const transport = new ZmqTransport({ nodeId: id, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 } });
    const redis = createRedisClient({ node: { host: server.host, port: server.port } }, () => undefined);
    const partial = { id, transport, redis, added: [] as string[], removed: [] as TestNode['removed'], logs: [] as string[] };
    try {
      const addresses = await transport.bind();
      const card: NodeCard = { id, addresses, startedAt: Date.now(), protocol: PROTOCOL_VERSION };
      const registry = registryOf(redis);
      const membership = new Membership(card, transport, registry, {
        ...TIMERS,
        log: (level, message) => partial.logs.push(`${level}: ${message}`),
      });
      const node: TestNode = { ...partial, card, registry, membership };
      nodes.push(node);
      transport.onBroadcast((envelope) => {
        membership.noteAlive(envelope.from);
        membership.handleBroadcast(envelope);
      });
      transport.onRequest((envelope) => {
        membership.noteAlive(envelope.from);
        if (envelope.type === 'join') return membership.acceptJoin(envelope.body).then((joined) => ({ type: 'joined', body: { card: joined } }));
        return Promise.reject(new Error(`unknown request type ${envelope.type}`));
      });
      membership.on('peer:added', (peer) => node.added.push(peer.card.id));
      membership.on('peer:removed', (peerId, reason) => node.removed.push({ id: peerId, reason, at: Date.now() }));
      return node;
    } catch (error) {
      await transport.close();
      redis.disconnect();
      throw error;
    }
  }

  async function startNode(name: string): Promise<TestNode> {
    const node = await createNode(name);
    await node.membership.start();
    return node;
  }

  /** Sorted ids of the peers a node sees. */
  const peerIdsOf = (node: TestNode): string[] => node.membership.peerIds().sort();
  const othersOf = (node: TestNode, among: TestNode[]): string[] => among.filter((n) => n !== node).map((n) => n.id).sort();

  async function waitFullMesh(among: TestNode[], timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `each of ${among.length} nodes to see the ${among.length - 1} others`,
      () => {
        for (const node of among) assert.deepEqual(peerIdsOf(node), othersOf(node, among), `peers of ${node.id}`);
        return true;
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  const removalsOf = (node: TestNode, id: string): TestNode['removed'] => node.removed.filter((r) => r.id === id);

  it('(a) nodes started one after the other all see each other', async () => {
    for (const name of ['a', 'b', 'c']) await startNode(name);
    await waitFullMesh(nodes);
    for (const node of nodes) {
      assert.equal(node.membership.size(), 3);
      assert.deepEqual([...new Set(node.added)].sort(), othersOf(node, nodes), `peer:added of ${node.id}`);
      assert.equal(node.added.length, 2, `peer:added fired once per peer on ${node.id}`);
      assert.deepEqual(node.removed, []);
    }
    const cards = (await nodes[0]?.registry.list())?.map((card) => card.id).sort();
    assert.deepEqual(cards, nodes.map((n) => n.id).sort());
  });

  it('(b) a 4th node joins a running cluster and everyone sees 4', async () => {
    await startNode('d');
    assert.equal(nodes.length, 4);
    await waitFullMesh(nodes);
    for (const node of nodes) assert.equal(node.membership.size(), 4);
    // Stays stable over a few heartbeat timeouts: nobody is evicted by mistake.
    const since = Date.now();
    await waitFor('three heartbeat timeouts to pass', () => Date.now() - since > TIMERS.heartbeatTimeoutMs * 3, { intervalMs: 50 });
    for (const node of nodes) {
      assert.deepEqual(node.removed, [], `no removal on ${node.id}`);
      assert.deepEqual(peerIdsOf(node), othersOf(node, nodes));
    }
  });

  it('(f) malformed join requests are rejected without crashing the node', async () => {
    const target = nodes[0];
    assert.ok(target);
    const prober = new ZmqTransport({ nodeId: `prober-${randomUUID()}`, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 } });
    try {
      await prober.bind();
      prober.connect(target.id, target.card.addresses);
      const valid: NodeCard = { ...target.card, id: prober.nodeId };
      const bodies: unknown[] = [
        null,
        'garbage',
        42,
        [],
        {},
        { card: null },
        { card: 'card' },
        { card: [] },
        { card: { id: '' } },
        { card: { ...valid, id: 7 } },
        { card: { ...valid, addresses: null } },
        { card: { ...valid, addresses: { router: 'tcp://127.0.0.1:1' } } },
        { card: { ...valid, startedAt: 'now' } },
        { card: { ...valid, protocol: PROTOCOL_VERSION + 1 } },
        { card: target.card }, // its own card
      ];
      for (const body of bodies) {
        await assert.rejects(
          prober.request(target.id, 'join', body, 5000),
          (error: unknown) => error instanceof RemoteHandlerError,
          `join with ${JSON.stringify(body)} should be rejected`,
        );
      }
    } finally {
      await prober.close();
    }
    assert.equal(target.membership.has(prober.nodeId), false);
    // The cluster is untouched.
    await waitFullMesh(nodes, 5000);
    for (const node of nodes) assert.deepEqual(node.removed, []);
  });

  it('(c) a crashed node is removed by every other node with reason "timeout"', async () => {
    const crashed = nodes[3];
    assert.ok(crashed);
    crashedOrLeft.add(crashed.id);
    const survivors = live();
    const crashedAt = Date.now();
    await crashed.membership.stop(false);
    await crashed.transport.close();
    await waitFor(
      `every survivor to remove ${crashed.id}`,
      () => survivors.every((node) => !node.membership.has(crashed.id)),
      { timeoutMs: TIMERS.heartbeatTimeoutMs + MARGIN_MS * 4, intervalMs: 20 },
    );
    for (const node of survivors) {
      const removals = removalsOf(node, crashed.id);
      assert.equal(removals.length, 1, `peer:removed fired once on ${node.id}`);
      const [removal] = removals;
      assert.equal(removal?.reason, 'timeout');
      const elapsed = (removal?.at ?? Infinity) - crashedAt;
      // The crashed node's last heartbeat may precede the crash by up to 1.5
      // heartbeat (heartbeats are checked every half heartbeat): removal
      // cannot come earlier than the timeout counted from there.
      assert.ok(elapsed >= TIMERS.heartbeatTimeoutMs - 1.5 * TIMERS.heartbeatMs, `removed after ${elapsed} ms: too early`);
      assert.ok(elapsed <= TIMERS.heartbeatTimeoutMs + MARGIN_MS, `removed after ${elapsed} ms: too late`);
      assert.deepEqual(peerIdsOf(node), othersOf(node, survivors));
    }
  });

  it('(e) the crashed node card expires from the registry', async () => {
    const crashed = nodes[3];
    const observer = nodes[0];
    assert.ok(crashed && observer);
    await waitFor(
      `${crashed.id} card to expire`,
      async () => !(await observer.registry.list()).some((card) => card.id === crashed.id),
      { timeoutMs: CARD_TTL_MS + MARGIN_MS * 2, intervalMs: 50 },
    );
    const ids = (await observer.registry.list()).map((card) => card.id).sort();
    assert.deepEqual(ids, live().map((n) => n.id).sort());
    // Survivors kept retrying to join the dead node's card without ever adding it back.
    for (const node of live()) {
      assert.equal(node.membership.has(crashed.id), false);
      assert.equal(removalsOf(node, crashed.id).length, 1, `peer:removed still fired once on ${node.id}`);
      assert.equal(node.added.filter((id) => id === crashed.id).length, 1, `${crashed.id} was not re-added on ${node.id}`);
    }
  });

  it('(d) a node stopping with stop(true) is removed at once with reason "left"', async () => {
    const leaving = nodes[2];
    assert.ok(leaving);
    crashedOrLeft.add(leaving.id);
    const survivors = live();
    const leftAt = Date.now();
    // As ClusterNode.stop(): announce, then close the sockets.
    await leaving.membership.stop(true);
    assert.equal((await leaving.registry.list()).some((card) => card.id === leaving.id), false, 'card unregistered at once');
    await leaving.transport.close();
    await waitFor(
      `every survivor to remove ${leaving.id}`,
      () => survivors.every((node) => removalsOf(node, leaving.id).length > 0),
      { timeoutMs: TIMERS.heartbeatTimeoutMs + MARGIN_MS * 4, intervalMs: 10 },
    );
    for (const node of survivors) {
      const removals = removalsOf(node, leaving.id);
      assert.equal(removals.length, 1, `peer:removed fired once on ${node.id}`);
      assert.equal(removals[0]?.reason, 'left', `reason on ${node.id}`);
      const elapsed = (removals[0]?.at ?? Infinity) - leftAt;
      assert.ok(elapsed < TIMERS.heartbeatTimeoutMs, `removed after ${elapsed} ms: not at once`);
      assert.deepEqual(peerIdsOf(node), othersOf(node, survivors));
    }
    const ids = (await survivors[0]?.registry.list())?.map((card) => card.id).sort();
    assert.deepEqual(ids, survivors.map((n) => n.id).sort());
  });
});
