import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';

import { MessageBus } from '../../src/bus/message-bus';
import type { CardStore } from '../../src/membership/card-store';
import { Membership, type PeerRemovalReason } from '../../src/membership/membership';
import type { NodeCard } from '../../src/membership/node-card';
import { peerLinksOver } from '../../src/membership/peer-links';
import { StateKeys } from '../../src/state/keys';
import { RedisCardStore } from '../../src/state/node-cards';
import { createRedisClient } from '../../src/state/redis-client';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { RemoteHandlerError } from '../../src/transport/errors';
import { ZmqTransport } from '../../src/transport/zmq-transport';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedis, type RunningRedis } from '../harness/redis-server';
import { newRunDir } from '../harness/run-dir';
import { waitFor } from '../harness/wait';
import { FaultyTransport } from '../support/faulty-transport';

killManagedProcessesOnSignal();

const TIMERS = { heartbeatMs: 100, heartbeatTimeoutMs: 500, discoverTimeoutMs: 2000, joinAttemptIntervalMs: 200 };
const CARD_TTL_MS = 1000;
/** Slack for the event loop and the sockets on a loaded CI machine. */
const MARGIN_MS = 1500;

interface TestNode {
  id: string;
  transport: FaultyTransport;
  zmq: ZmqTransport;
  redis: Redis | Cluster;
  cards: RedisCardStore;
  membership: Membership;
  added: Array<{ id: string; returning: boolean }>;
  removed: Array<{ id: string; incarnation: number; reason: PeerRemovalReason; at: number }>;
  suspicions: string[];
}

describe('Membership (real Redis, real ZeroMQ)', () => {
  let server: RunningRedis | undefined;
  const keys = new StateKeys(`kpc-test-${randomUUID()}`);
  const nodes: TestNode[] = [];
  const gone = new Set<string>();
  const live = (): TestNode[] => nodes.filter((n) => !gone.has(n.id));

  before(async () => {
    server = await startRedis(newRunDir('membership'));
  });

  after(async () => {
    await Promise.allSettled(nodes.map((node) => node.membership.stop(false)));
    await Promise.allSettled(nodes.map((node) => node.transport.close()));
    for (const node of nodes) node.redis.disconnect();
    await server?.stop();
  });

  /**
   * A node wired as ClusterNode does, started; `ports` reuses another node's
   * sockets, `timers` and `cluster` (its card store's keys) default to the
   * file's.
   */
  async function startNode(
    name: string,
    ports?: { router: number; pub: number },
    timers = TIMERS,
    cluster = keys,
    wrapCards: (cards: RedisCardStore) => CardStore = (cards) => cards,
  ): Promise<TestNode> {
    assert.ok(server, 'redis is running');
    const id = `${name}-${randomUUID()}`;
    const zmq = new ZmqTransport({
      nodeId: id,
      router: { host: '127.0.0.1', port: ports?.router ?? 0 },
      pub: { host: '127.0.0.1', port: ports?.pub ?? 0 },
    });
    const transport = new FaultyTransport(zmq);
    const redis = createRedisClient({ node: { host: server.host, port: server.port } }, () => undefined);
    const cards = new RedisCardStore(redis, cluster, CARD_TTL_MS, PROTOCOL_VERSION);
    const bus = new MessageBus(transport, () => undefined);
    const card: NodeCard = { id, addresses: { router: '', pub: '' }, incarnation: 0, startedAt: Date.now(), protocol: PROTOCOL_VERSION };
    const membership = new Membership(card, bus, peerLinksOver(transport), wrapCards(cards), { ...timers, log: () => undefined });
    const node: TestNode = { id, transport, zmq, redis, cards, membership, added: [], removed: [], suspicions: [] };
    membership.on('peer:added', (peer, { returning }) => node.added.push({ id: peer.card.id, returning }));
    membership.on('peer:removed', (removed, reason) => node.removed.push({ id: removed.id, incarnation: removed.incarnation, reason, at: Date.now() }));
    membership.on('self:suspect', (why) => node.suspicions.push(why));
    nodes.push(node);
    await membership.start(await transport.bind());
    return node;
  }

  const peerIdsOf = (node: TestNode): string[] => node.membership.peerIds().sort();
  const othersOf = (node: TestNode, among: TestNode[]): string[] => among.filter((n) => n !== node).map((n) => n.id).sort();
  const removalsOf = (node: TestNode, id: string) => node.removed.filter((r) => r.id === id);

  async function waitFullMesh(among: TestNode[], timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `each of ${among.length} nodes to see the ${among.length - 1} others`,
      () => among.every((node) => JSON.stringify(peerIdsOf(node)) === JSON.stringify(othersOf(node, among))),
      { timeoutMs, intervalMs: 20 },
    );
  }

  it('(a) nodes started one after the other all see each other, each with its own incarnation', async () => {
    for (const name of ['a', 'b', 'c']) await startNode(name);
    await waitFullMesh(nodes);
    for (const node of nodes) {
      assert.equal(node.membership.size(), 3);
      assert.deepEqual(node.added.map((a) => a.id).sort(), othersOf(node, nodes), `peer:added once per peer on ${node.id}`);
      assert.ok(node.added.every((a) => !a.returning));
      assert.deepEqual(node.removed, []);
    }
    const incarnations = new Set(nodes.map((n) => n.membership.self.incarnation));
    assert.equal(incarnations.size, 3, 'incarnations are unique cluster-wide');
    assert.deepEqual((await nodes[0]?.cards.list())?.map((card) => card.id).sort(), nodes.map((n) => n.id).sort());
  });

  it('(b) a 4th node joins a running cluster; nobody is evicted over three heartbeat timeouts', async () => {
    await startNode('d');
    await waitFullMesh(nodes);
    const since = Date.now();
    await waitFor('three heartbeat timeouts', () => Date.now() - since > TIMERS.heartbeatTimeoutMs * 3, { intervalMs: 50 });
    for (const node of nodes) assert.deepEqual(node.removed, [], `no removal on ${node.id}`);
  });

  it('(c) joins that are malformed, forged or not registered are refused with a code, and change nothing', async () => {
    const target = nodes[0];
    assert.ok(target);
    const prober = new ZmqTransport({ nodeId: `prober-${randomUUID()}`, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 } });
    try {
      const addresses = await prober.bind();
      prober.setIncarnation(1);
      prober.connect(target.id, target.membership.self.addresses);
      const unregistered: NodeCard = { id: prober.nodeId, addresses, incarnation: 1, startedAt: Date.now(), protocol: PROTOCOL_VERSION };
      const cases: Array<[unknown, string]> = [
        [null, 'KPC_MALFORMED'],
        ['garbage', 'KPC_MALFORMED'],
        [{ card: { id: '' } }, 'KPC_MALFORMED'],
        [{ card: { ...unregistered, protocol: PROTOCOL_VERSION + 1 } }, 'KPC_PROTOCOL'],
        [{ card: target.membership.self }, 'KPC_FOREIGN_CARD'],
        [{ card: { ...unregistered, id: nodes[1]?.id } }, 'KPC_FOREIGN_CARD'],
        [{ card: unregistered }, 'KPC_UNKNOWN_CARD'],
      ];
      for (const [body, code] of cases) {
        await assert.rejects(
          prober.request(target.id, 'join', body, 5000),
          (error: unknown) => error instanceof RemoteHandlerError && error.code === code,
          `join with ${JSON.stringify(body)} should be refused with ${code}`,
        );
      }
      await assert.rejects(
        prober.request(target.id, 'node:evicted', { id: nodes[1]?.id, incarnation: 1 }, 5000),
        (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_WRONG_KIND',
      );
    } finally {
      await prober.close();
    }
    assert.equal(target.membership.has(prober.nodeId), false);
    await waitFullMesh(live(), 5000);
    for (const node of nodes) assert.deepEqual(node.removed, []);
  });

  it('(d) a silent node is evicted by every other node; it learns it and rejoins under a new incarnation', async () => {
    const silent = nodes[3];
    assert.ok(silent);
    const before = silent.membership.self.incarnation;
    silent.membership.on('self:suspect', () => void silent.membership.rejoin());
    silent.transport.silent = true;
    const others = live().filter((n) => n !== silent);
    await waitFor('every other node to evict it', () => others.every((n) => removalsOf(n, silent.id).length === 1), {
      timeoutMs: TIMERS.heartbeatTimeoutMs + MARGIN_MS * 2,
    });
    for (const node of others) assert.equal(removalsOf(node, silent.id)[0]?.reason, 'timeout');
    await waitFor('the silent node to hear of its eviction', () => silent.suspicions.length > 0);
    silent.transport.silent = false;
    await waitFullMesh(live());
    assert.ok(silent.membership.self.incarnation > before, 'a new incarnation');
    for (const node of others) {
      assert.ok(node.added.some((a) => a.id === silent.id && a.returning), `${node.id} saw it come back`);
    }
  });

  it('(e) a partition of one link: both ends evict each other, the node in the middle relays, both rejoin', async () => {
    const [a, b, c] = nodes;
    assert.ok(a && b && c);
    for (const n of [a, b, c]) n.membership.on('self:suspect', () => void n.membership.rejoin().catch(() => undefined));
    const suspicionsBefore = { a: a.suspicions.length, c: c.suspicions.length };
    a.transport.cut.add(c.id);
    c.transport.cut.add(a.id);
    await waitFor('a and c to evict each other', () => !a.membership.has(c.id) && !c.membership.has(a.id), { timeoutMs: 10_000 });
    await waitFor('b to relay the accusations', () => a.suspicions.length > suspicionsBefore.a && c.suspicions.length > suspicionsBefore.c, {
      timeoutMs: 10_000,
    });
    assert.ok(b.membership.has(a.id) && b.membership.has(c.id), 'b keeps both: it hears them');
    assert.ok(a.suspicions.some((why) => why.includes(`accused by ${b.id}`)), a.suspicions.join(' / '));
    a.transport.cut.delete(c.id);
    c.transport.cut.delete(a.id);
    await waitFullMesh(live());
  });

  it('(f) a crashed node (its connections closed) is removed by every other node (how fast: bench/ case kill)', async () => {
    const crashed = nodes[3];
    assert.ok(crashed);
    gone.add(crashed.id);
    const survivors = live();
    const counts = new Map(survivors.map((n) => [n.id, removalsOf(n, crashed.id).length]));
    await crashed.membership.stop(false);
    await crashed.transport.close();
    await waitFor(`every survivor to remove ${crashed.id}`, () => survivors.every((n) => !n.membership.has(crashed.id)), {
      timeoutMs: TIMERS.heartbeatTimeoutMs + MARGIN_MS * 4,
      intervalMs: 20,
    });
    for (const node of survivors) {
      const removals = removalsOf(node, crashed.id);
      assert.equal(removals.length, (counts.get(node.id) ?? 0) + 1, `peer:removed fired once more on ${node.id}`);
      // Its closed connections tell at once; the heartbeat timeout is the fallback.
      assert.ok(['connectionLost', 'timeout'].includes(removals.at(-1)?.reason ?? ''), removals.at(-1)?.reason);
    }
    await waitFor(`${crashed.id} card to expire`, async () => !(await survivors[0]?.cards.list())?.some((card) => card.id === crashed.id), {
      timeoutMs: CARD_TTL_MS + MARGIN_MS * 2,
    });
  });

  it('(g) a node restarted on the same ports under a new id replaces the old member at once', async () => {
    // A cluster of its own whose heartbeat timeout outlasts any restart:
    // what replaces the old member must be the new card, never the
    // survivors' timeout (500 ms here otherwise, which a slow restart on a
    // loaded machine would reach first).
    const patient = { ...TIMERS, heartbeatTimeoutMs: 60_000 };
    const cluster = new StateKeys(`kpc-test-${randomUUID()}`);
    const own: TestNode[] = [];
    for (const name of ['g1', 'g2', 'g3']) own.push(await startNode(name, undefined, patient, cluster));
    for (const node of own) gone.add(node.id); // not part of the other tests' cluster
    await waitFullMesh(own);
    const [old] = own.splice(2, 1);
    assert.ok(old);
    // Its closed connections would get it evicted within 1.5 heartbeats, before
    // it is back: here the survivors miss them, as when a process restarts
    // faster than its peers notice, and only the new card tells them.
    for (const node of own) node.transport.deafToDisconnects = true;
    const ports = {
      router: Number(/:(\d+)$/.exec(old.membership.self.addresses.router)?.[1]),
      pub: Number(/:(\d+)$/.exec(old.membership.self.addresses.pub)?.[1]),
    };
    const crashedAt = Date.now();
    await old.membership.stop(false); // a crash: no leave
    await old.transport.close();
    // libzmq releases a closed socket's port asynchronously: retry the bind briefly.
    const restarted = await waitFor('the old ports to be free', async () => {
      try {
        return await startNode('g3-restarted', ports, patient, cluster);
      } catch (error) {
        const failed = nodes.pop();
        await failed?.transport.close();
        failed?.redis.disconnect();
        if (!/in use/i.test(String(error))) throw error;
        return undefined;
      }
    }, { timeoutMs: 5000, intervalMs: 50 });
    gone.add(restarted.id);
    await waitFor('the old member replaced', () => own.every((n) => removalsOf(n, old.id).some((r) => r.reason === 'replaced')), {
      timeoutMs: 10_000,
    });
    for (const node of own) assert.deepEqual(removalsOf(node, old.id).map((r) => r.reason), ['replaced'], `${node.id} removed it once, replaced`);
    assert.ok(Date.now() - crashedAt < patient.heartbeatTimeoutMs, 'replaced, not timed out');
    await waitFullMesh([...own, restarted]);
    for (const node of [...own, restarted]) {
      await node.membership.stop(false);
      await node.transport.close();
    }
  });

  it('(h) a node stopping with stop(true) is removed at once with reason "left", its card unregistered', async () => {
    const leaving = nodes[1];
    assert.ok(leaving);
    gone.add(leaving.id);
    const survivors = live();
    await leaving.membership.stop(true);
    assert.equal((await leaving.cards.list()).some((card) => card.id === leaving.id), false, 'card unregistered at once');
    // As ClusterNode does: the leave, queued, gets time to go out.
    await leaving.transport.close({ flushMs: 500 });
    // "left", not a timeout nor a lost connection: the announcement did it, before either could.
    await waitFor(`every survivor to remove ${leaving.id}`, () => survivors.every((n) => removalsOf(n, leaving.id).length > 0), {
      timeoutMs: TIMERS.heartbeatTimeoutMs + MARGIN_MS,
      intervalMs: 10,
    });
    for (const node of survivors) assert.deepEqual(removalsOf(node, leaving.id).map((r) => r.reason), ['left']);
  });

  it('(i) a node stopping while a renewal of its card is on its way waits for it: the card it writes back is withdrawn before stop() resolves (the node closes Redis after)', async () => {
    let holding: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (holding = resolve));
    let release: (() => void) | undefined;
    let hold = false;
    // Its renewal's call reaches Redis after the withdrawal, as an auto-pipelined call (sent at the end of the turn) does after a transaction sent at once.
    const late = (inner: RedisCardStore): CardStore => ({
      register: (card) => inner.register(card),
      unregister: (id) => inner.unregister(id),
      list: () => inner.list(),
      get: (id) => inner.get(id),
      renewedAt: (id) => inner.renewedAt(id),
      nextIncarnation: () => inner.nextIncarnation(),
      renew: async (card) => {
        if (hold && !release) {
          const gate = new Promise<void>((resolve) => (release = resolve));
          holding?.();
          await gate;
        }
        return inner.renew(card);
      },
    });
    const node = await startNode('late', undefined, TIMERS, keys, late);
    hold = true;
    await held;
    gone.add(node.id);
    let stopped = false;
    const stopping = node.membership.stop(true).then(() => void (stopped = true));
    await waitFor('the withdrawal to land', async () => !(await node.cards.list()).some((card) => card.id === node.id), { timeoutMs: 5000, intervalMs: 10 });
    assert.equal(stopped, false, 'stop() waits for the renewal on its way');
    release?.();
    await stopping;
    assert.equal((await node.cards.list()).some((card) => card.id === node.id), false, 'the card written back by the renewal is withdrawn');
    await node.transport.close();
  });
});
