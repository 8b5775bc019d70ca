import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Membership } from '../../src/membership/membership';
import { ownerOf } from '../../src/membership/node-card';
import type { RoomRecord } from '../../src/state/realtime-store';
import type { SharedState } from '../../src/state/shared-state';
import { MAX_BROADCASTS_IN_HAND_PER_SENDER } from '../../src/bus/broadcast-backlog';
import { hasCode } from '../../src/util/cluster-error';
import { waitFor } from '../harness/wait';
import { MemoryCluster, type MemoryNode } from '../support/memory-cluster';

const room = (roomId: string): RoomRecord => ({ index: 'i', collection: 'c', roomId, filters: [[{ equals: { roomId } }]] });

const memberIds = (member: MemoryNode): string[] => member.node.status().peers.map((peer) => peer.id).sort();
const ownersOf = async (cluster: MemoryCluster): Promise<string[]> => (await cluster.server.realtime.owners()).sort();
const ownerNow = (member: MemoryNode): string => ownerOf(member.node.status().node);

/** Every node counts every other one. */
async function waitMesh(members: MemoryNode[]): Promise<void> {
  await waitFor(`a mesh of ${members.length}`, () =>
    members.every((member) => JSON.stringify(memberIds(member)) === JSON.stringify(members.filter((m) => m !== member).map((m) => m.id).sort())),
  );
}

/**
 * ClusterNode on in-memory doubles (network, shared state, host, pausable
 * timers): the judgements that the slow tiers otherwise reach only with
 * real processes.
 */
describe('ClusterNode on doubles', () => {
  let cluster: MemoryCluster;

  afterEach(async () => {
    await cluster.stopAll();
  });

  it('three nodes find each other through the shared state, each under its own incarnation', async () => {
    cluster = new MemoryCluster();
    const nodes = [await cluster.start(), await cluster.start(), await cluster.start()];
    await waitMesh(nodes);
    assert.equal(new Set(nodes.map((m) => m.node.status().node.incarnation)).size, 3);
    for (const member of nodes) assert.equal(member.node.unhealthy(), undefined);
  });

  it('a frozen node is evicted and its subscriptions purged; thawed, it finds out, joins again under a new incarnation and writes them back', async () => {
    cluster = new MemoryCluster();
    const [a, b, c] = [await cluster.start(), await cluster.start(), await cluster.start()];
    await waitMesh([a, b, c]);
    await c.node.realtime.subscribed(room('r1'), 'conn-1');
    const before = ownerNow(c);
    assert.deepEqual(await ownersOf(cluster), [before]);
    cluster.freeze(c);
    await waitFor('a and b to evict c', () => !memberIds(a).includes(c.id) && !memberIds(b).includes(c.id));
    assert.equal(a.node.status().evictions.timeout, 1);
    await waitFor('c purged from the shared state', async () => (await ownersOf(cluster)).length === 0);
    cluster.thaw(c);
    // c judged nobody for its own pause: it asked, learnt it was out, and joined again.
    await waitMesh([a, b, c]);
    assert.equal(c.node.status().evictions.timeout, 0, 'c did not blame its peers for its own pause');
    assert.equal(c.node.status().node.rejoins, 1);
    const after = ownerNow(c);
    assert.notEqual(after, before, 'a new incarnation');
    await waitFor('c\'s subscription written back under its new incarnation', async () => JSON.stringify(await ownersOf(cluster)) === JSON.stringify([after]));
    assert.equal(await a.node.realtime.countRoom('r1'), 1);
  });

  it('suspicions about the incarnation a rejoin leaves (one burst, several peers) run one pass; one about an older incarnation none', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    // What the failure detector and the join protocol emit, twice in one burst.
    const membership = (b.node as unknown as { membership: Membership }).membership;
    const suspected = b.node.status().node.incarnation;
    membership.emit('self:suspect', `evicted by ${a.id}`, suspected);
    membership.emit('self:suspect', 'evicted by another peer', suspected);
    await waitFor('b to join again', () => !b.node.status().node.resyncing);
    membership.emit('self:suspect', 'a stale answer', suspected);
    await waitFor('the stale suspicion to be judged', () => !b.node.status().node.resyncing);
    const passes = b.logs.filter((entry) => entry.message.startsWith('joined again in'));
    assert.equal(passes.length, 1, passes.map((entry) => entry.message).join('; '));
    assert.notEqual(b.node.status().node.incarnation, suspected);
  });

  it('a node joining again catches up on Kuzzle-wide state (rights, tokens) while its subscriptions are still being written back, not after', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    const reasons: string[] = [];
    b.node.onCatchUp(async (reason) => void reasons.push(reason));
    // The rewrite of b's subscriptions takes as long as this test says (many rooms, a Redis failover).
    const internals = b.node as unknown as { sync: { rewrite: (...args: unknown[]) => Promise<unknown> }; membership: Membership };
    const rewrite = internals.sync.rewrite.bind(internals.sync);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    internals.sync.rewrite = async (...args: unknown[]) => {
      await released;
      return rewrite(...args);
    };
    internals.membership.emit('self:suspect', `evicted by ${a.id}`, b.node.status().node.incarnation);
    await waitFor('b to catch up', () => reasons.some((reason) => reason.startsWith('joined again')));
    assert.equal(b.node.status().node.resyncing, true, 'the rewrite is still under way');
    release();
    await waitFor('b to join again', () => !b.node.status().node.resyncing);
    assert.equal(reasons.filter((reason) => reason.startsWith('joined again')).length, 1);
  });

  it('fencing: the evicted incarnation is never taken back; only the new one is', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    const fenced = b.node.status().node.incarnation;
    cluster.freeze(b);
    await waitFor('a evicts b', () => memberIds(a).length === 0);
    // While b is frozen its card, still registered under the old incarnation, keeps being found:
    // a does not take it back (it accuses it instead).
    const seen: number[] = [];
    const interval = setInterval(() => {
      for (const peer of a.node.status().peers) if (peer.id === b.id) seen.push(peer.incarnation);
    }, 5);
    try {
      await waitFor('a few join attempts', () => a.node.status().messages.sentByType['node:accused'] !== undefined);
      cluster.thaw(b);
      await waitMesh([a, b]);
    } finally {
      clearInterval(interval);
    }
    assert.ok(!seen.includes(fenced), `the fenced incarnation ${fenced} was never a member again`);
    assert.ok(b.node.status().node.incarnation > fenced);
  });

  it('a suspicion is not an eviction: with one link cut, the node in the middle keeps both ends and relays the accusations; both join again', async () => {
    cluster = new MemoryCluster();
    const [a, b, c] = [await cluster.start(), await cluster.start(), await cluster.start()];
    await waitMesh([a, b, c]);
    cluster.network.cutLink(a.id, c.id);
    await waitFor('a and c to be told to join again', () => a.node.status().node.rejoins > 0 && c.node.status().node.rejoins > 0);
    assert.deepEqual(memberIds(b), [a.id, c.id].sort(), 'b, which hears both, evicted nobody');
    assert.equal(b.node.status().evictions.timeout, 0);
    cluster.network.heal(a.id, c.id);
    await waitMesh([a, b, c]);
  });

  it('a crashed process: its closed connections get it evicted as connectionLost, its subscriptions purged', async () => {
    cluster = new MemoryCluster({ timers: { heartbeatTimeout: 60_000 } });
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await b.node.realtime.subscribed(room('r1'), 'conn-1');
    await cluster.crash(b);
    await waitFor('a evicts b', () => memberIds(a).length === 0);
    assert.equal(a.node.status().evictions.connectionLost, 1, 'not a timeout: that is a minute here');
    await waitFor('b purged', async () => (await ownersOf(cluster)).length === 0);
    assert.equal(await a.node.realtime.countRoom('r1'), undefined);
  });

  it('a node restarted on the same sockets under a new id replaces the old member at once; the old one\'s subscriptions are purged', async () => {
    cluster = new MemoryCluster({ timers: { heartbeatTimeout: 60_000 } });
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await b.node.realtime.subscribed(room('r1'), 'conn-1');
    const owner = ownerNow(b);
    // The process is gone (kill -9): its card is no longer renewed, the peers do not see it go.
    cluster.freeze(b);
    await b.transport.close();
    const restarted = await cluster.start('restarted', b.id);
    await waitMesh([a, restarted]);
    assert.deepEqual(memberIds(a), [restarted.id]);
    assert.equal(a.node.status().evictions.replaced, 1);
    await waitFor('the old process\'s subscriptions purged', async () => !(await ownersOf(cluster)).includes(owner));
  });

  it('a card on the sockets of a node that still renews its own (a member lying about its sockets) replaces it here but purges none of its subscriptions', async () => {
    cluster = new MemoryCluster({ timers: { heartbeatTimeout: 60_000 } });
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await b.node.realtime.subscribed(room('r1'), 'conn-1');
    const owner = ownerNow(b);
    await b.transport.close(); // b lives on (it renews its card), unheard
    const other = await cluster.start('other', b.id);
    await waitMesh([a, other]);
    assert.equal(a.node.status().evictions.replaced, 1);
    await waitFor('a to judge b\'s fate', () => a.logs.some((entry) => entry.message.includes(`${owner} removed here (replaced) but still renews its card`)));
    assert.ok((await ownersOf(cluster)).includes(owner), 'b\'s subscriptions stay while it renews its card');
  });

  it('broadcasts lost from a peer: Kuzzle-wide state is caught up', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    const reasons: string[] = [];
    a.node.onCatchUp(async (reason) => void reasons.push(reason));
    a.transport.injectGap(b.id, 3);
    await waitFor('the repair', () => a.node.status().repair.gapRepairs === 1 && reasons.length === 1);
    assert.match(reasons[0] ?? '', new RegExp(b.id));
  });

  it('the shared state lost (an empty Redis): every node writes its subscriptions back, and the listeners run', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    let restored = 0;
    a.node.onStateLost(async () => void restored++);
    await a.node.realtime.subscribed(room('ra'), 'conn-1');
    await b.node.realtime.subscribed(room('rb'), 'conn-2');
    cluster.server.lose();
    await waitFor('both written back', async () => (await ownersOf(cluster)).length === 2);
    assert.equal(await b.node.realtime.countRoom('ra'), 1);
    assert.equal(await a.node.realtime.countRoom('rb'), 1);
    await waitFor('the state-lost listener', () => restored === 1);
    assert.equal(a.node.status().repair.stateLosses, 1);
    // The cards went too: renewed at the next tick, the nodes still count each other.
    await waitFor('cards back', async () => (await cluster.server.connect().cards.list()).length === 2);
    assert.deepEqual(memberIds(a), [b.id]);
  });

  it('drain, then leave: health turns 503 while the node still serves; the leave purges its subscriptions before peers forget it', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await b.node.realtime.subscribed(room('r1'), 'conn-1');
    b.node.drain();
    assert.match(b.node.unhealthy() ?? '', /shutting down/);
    assert.deepEqual(memberIds(a), [b.id], 'still a member while draining');
    assert.equal(await a.node.realtime.countRoom('r1'), 1, 'its subscribers still count');
    const order: string[] = [];
    a.node.onCatchUp(async () => void order.push('catch-up'));
    const removed = new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (memberIds(a).length === 0) {
          clearInterval(poll);
          void cluster.server.realtime.countRoom('r1').then((count) => {
            order.push(`left with r1 at ${String(count)}`);
            resolve();
          });
        }
      }, 1);
    });
    await b.node.stop();
    await removed;
    assert.deepEqual(order, ['left with r1 at undefined'], 'the room was gone before b left the view');
    assert.equal(a.node.status().evictions.left, 1);
    assert.equal((await cluster.server.connect().cards.list()).some((card) => card.id === b.id), false, 'card withdrawn');
  });

  it('reset: a second reset on the same node is refused while the first runs; resets from two nodes at once share each node\'s rewrite', async () => {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await a.node.realtime.subscribed(room('ra'), 'conn-1');
    await b.node.realtime.subscribed(room('rb'), 'conn-2');
    const first = a.node.reset();
    await assert.rejects(a.node.reset(), (error: unknown) => hasCode(error, 'KPC_RESET_RUNNING'));
    const [fromA, fromB] = await Promise.all([first, b.node.reset()]);
    for (const summary of [fromA, fromB]) {
      assert.deepEqual(summary.nodes.map((n) => [n.id, n.rooms, n.error]).sort(), [[a.id, 1, undefined], [b.id, 1, undefined]].sort());
    }
    // Done: the next one runs.
    assert.equal((await a.node.reset()).nodes.length, 2);
  });

  it('a node that stops hearing its peers (overloaded, or lying) evicts them, but purges nothing of nodes that still renew their cards: no room is lost meanwhile', async () => {
    cluster = new MemoryCluster();
    const [a, b, c] = [await cluster.start(), await cluster.start(), await cluster.start()];
    await waitMesh([a, b, c]);
    await b.node.realtime.subscribed(room('rb'), 'conn-b');
    await c.node.realtime.subscribed(room('rc'), 'conn-c');
    const owners = await ownersOf(cluster);
    cluster.network.cutLink(a.id, b.id);
    cluster.network.cutLink(a.id, c.id);
    await waitFor('a evicts b and c', () => a.node.status().evictions.timeout >= 2);
    await waitFor('a decided their fate', () => a.logs.filter((log) => /still renews its card|joined again: its subscriptions stay/.test(log.message)).length >= 2);
    assert.deepEqual(await ownersOf(cluster), owners, 'nobody purged: b and c renew their cards');
    assert.equal(await c.node.realtime.countRoom('rb'), 1, 'c still counts b\'s subscriber');
    assert.equal(await b.node.realtime.countRoom('rc'), 1);
    cluster.network.heal(a.id, b.id);
    cluster.network.heal(a.id, c.id);
    await waitMesh([a, b, c]);
  });

  /** Two nodes; b's deliveries stalled (until `resume`) while a sends three times the bound of changes: b holds a. */
  async function heldPeer() {
    cluster = new MemoryCluster();
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitMesh([a, b]);
    await b.node.realtime.subscribed(room('r1'), 'conn-1');
    let resume = (): void => undefined;
    b.host.gate = new Promise<void>((resolve) => (resume = resolve));
    const sent = MAX_BROADCASTS_IN_HAND_PER_SENDER * 3;
    for (let n = 0; n < sent; n++) {
      const request = { data: { index: 'i', collection: 'c', controller: 'document', action: 'create' }, options: {} };
      await a.node.realtime.forwardChange({ index: 'i', collection: 'c', action: 'create', documents: [{ _id: `d${n}` }], request: () => request });
    }
    await waitFor('b to hold a', () => b.node.status().backlog.holding.includes(a.id));
    return { a, b, sent, resume };
  }

  it('a peer sending faster than this node matches (delivery stalled past heartbeatTimeout): its broadcasts are held at the bound, it is not evicted for the silence (it answers when asked), and every change is delivered in order once delivery resumes', async () => {
    const { a, b, sent, resume } = await heldPeer();
    // Heartbeats a sends meanwhile wait unread in b's socket, like its changes, for several heartbeat timeouts.
    const heartbeats = (): number => a.transport.sent.filter((envelope) => envelope.type === 'heartbeat').length;
    const before = heartbeats();
    const { heartbeat, heartbeatTimeout } = cluster.options.timers;
    await waitFor('a to send heartbeats for three heartbeat timeouts', () => heartbeats() - before >= (3 * heartbeatTimeout) / heartbeat, { timeoutMs: 10_000 });
    const held = b.node.status();
    assert.deepEqual(held.backlog.holding, [a.id]);
    assert.equal(held.backlog.inHand, MAX_BROADCASTS_IN_HAND_PER_SENDER, 'no more of a\'s changes taken in than the bound');
    assert.deepEqual(memberIds(b), [a.id], 'a is not evicted for a silence that is b\'s');
    assert.equal(held.evictions.timeout, 0);
    resume();
    b.host.gate = undefined;
    await waitFor('every change delivered', () => b.host.changes.length === sent);
    assert.deepEqual(b.host.changes.map((change) => change.documents[0]?._id), Array.from({ length: sent }, (_, n) => `d${n}`), 'in the order sent');
    await waitFor('b to read a again', () => b.node.status().backlog.holding.length === 0 && b.node.status().backlog.inHand === 0);
    assert.equal(b.node.status().backlog.holds >= 1, true);
    assert.deepEqual(memberIds(b), [a.id]);
    assert.equal(b.node.status().node.rejoins + a.node.status().node.rejoins, 0);
  });

  it('a held peer whose request connection drops (and comes back) is not evicted as connectionLost: it is asked at once; a held peer that joins again is accepted (its broadcasts count as heard)', async () => {
    const { a, b, resume } = await heldPeer();
    const heartbeats = (): number => a.transport.sent.filter((envelope) => envelope.type === 'heartbeat').length;
    for (let round = 0; round < 5; round++) {
      b.transport.connectionClosed(a.id);
      const before = heartbeats();
      await waitFor('a few heartbeats of a', () => heartbeats() - before >= 3, { timeoutMs: 10_000 });
    }
    assert.deepEqual(memberIds(b), [a.id]);
    assert.equal(b.node.status().evictions.connectionLost, 0);
    // a joins again (it suspects itself): b, which holds it, takes the join without hearing a new broadcast.
    const membership = (a.node as unknown as { membership: Membership }).membership;
    const suspected = a.node.status().node.incarnation;
    membership.emit('self:suspect', 'a test', suspected);
    await waitFor('a to join again', () => a.node.status().node.rejoins === 1 && !a.node.status().node.resyncing, { timeoutMs: 10_000 });
    await waitFor('b to count a under its new incarnation', () => b.node.status().peers.some((peer) => peer.id === a.id && peer.incarnation > suspected));
    assert.deepEqual(b.node.status().backlog.holding, [a.id], 'still held meanwhile');
    const unheard = [...a.logs, ...b.logs].filter((entry) => entry.message.includes('nothing heard from'));
    assert.deepEqual(unheard, [], 'no join waited in vain for a broadcast of the held peer');
    resume();
    b.host.gate = undefined;
  });

  it('a held peer that stops answering (frozen) is still evicted: a hold excuses no silence of a peer that does not answer when asked', async () => {
    const { a, b, resume } = await heldPeer();
    cluster.freeze(a);
    await waitFor('b to evict a', () => memberIds(b).length === 0, { timeoutMs: 10_000 });
    assert.equal(b.node.status().evictions.timeout, 1);
    resume();
    b.host.gate = undefined;
  });

  it('a start that fails after joining leaves nothing running: peers forget the node at once, its card goes, its sockets and Redis connection close', async () => {
    // No eviction for silence within the test: only the leave can make a forget b.
    cluster = new MemoryCluster({ timers: { heartbeatTimeout: 60_000, cardTtl: 120_000 } });
    const a = await cluster.start();
    const failing = cluster.start('node-b', 'node-b', (member) => {
      // The last step of the start (the shared state's epoch) fails, after b joined a.
      Object.assign(member.state.epoch, { check: () => Promise.reject(new Error('epoch unreadable')) });
    });
    await assert.rejects(failing, /epoch unreadable/);
    const b = cluster.nodes[1];
    assert.ok(b);
    // The leave was sent before start() rejected; a reads it in its next turns.
    await waitFor('a forgets b', () => !memberIds(a).includes('node-b'));
    assert.equal(a.node.status().evictions.left, 1, 'b left: a did not wait for a timeout');
    assert.equal(cluster.server.cards.has('node-b'), false, "b's card was withdrawn");
    assert.equal(b.transport.closed, true);
    assert.equal((b.state as SharedState & { closed: boolean }).closed, true);
    assert.ok(b.logs.some((log) => log.level === 'error' && /start failed, leaving the cluster: .*epoch unreadable/.test(log.message)));
    assert.notEqual(b.node.unhealthy(), undefined, 'a failed start never reports healthy');
  });

  it('a stop during the start (retrying a peer that does not answer) ends the start: it rejects, and the node leaves nothing registered', async () => {
    cluster = new MemoryCluster({ retryJoin: 50 });
    const a = await cluster.start();
    await cluster.crash(a);
    // a's card stays listed, so b keeps retrying to join it.
    const listed = cluster.server.cards.get(a.id);
    assert.ok(listed);
    listed.expiresAt = Date.now() + 60_000;
    const starting = cluster.start('node-b');
    const b = cluster.nodes[1];
    assert.ok(b);
    await waitFor('b retrying to join a', () => b.logs.some((log) => /did not answer, retrying to join/.test(log.message)));
    await b.node.stop();
    await assert.rejects(starting, (error) => hasCode(error, 'KPC_STOPPED'));
    assert.equal(cluster.server.cards.has('node-b'), false);
    assert.equal(b.transport.closed, true);
    assert.equal(b.node.status().node.ready, false);
  });
});
