import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MessageBus } from '../../src/bus/message-bus';
import type { RoomRecord } from '../../src/state/realtime-store';
import { RealtimeSync } from '../../src/sync/realtime-sync';
import type { LogLevel } from '../../src/util/log';
import { waitFor } from '../harness/wait';
import { FakeHost } from '../support/fake-host';
import { MemoryRealtimeStore } from '../support/memory-realtime-store';
import { MemoryNetwork, type MemoryTransport } from '../support/memory-transport';

const ACK_TIMEOUT_MS = 300;

interface TestNode {
  id: string;
  owner: string;
  transport: MemoryTransport;
  bus: MessageBus;
  host: FakeHost;
  sync: RealtimeSync;
  logs: string[];
}

/** Nodes sharing one in-memory store and network, each knowing the others as members. */
function cluster(count: number, store = new MemoryRealtimeStore()) {
  const network = new MemoryNetwork();
  const ids = Array.from({ length: count }, (_, i) => `n${i + 1}`);
  const nodes: TestNode[] = ids.map((id) => {
    const transport = network.transport(id);
    const logs: string[] = [];
    const log = (level: LogLevel, message: string) => logs.push(`${level}: ${message}`);
    const bus = new MessageBus(transport, log);
    bus.setMemberGate((sender) => ids.includes(sender.id));
    const host = new FakeHost();
    const node: TestNode = { id, owner: `${id}#1`, transport, bus, host, logs, sync: undefined as unknown as RealtimeSync };
    node.sync = new RealtimeSync(store, bus, host, {
      owner: () => node.owner,
      peers: () => ids.filter((other) => other !== id),
      ackTimeoutMs: ACK_TIMEOUT_MS,
      log,
    });
    return node;
  });
  for (const a of nodes) for (const b of nodes) if (a !== b) a.transport.connect(b.id);
  const at = (i: number): TestNode => {
    const node = nodes[i - 1];
    if (!node) throw new Error(`no node ${i}`);
    return node;
  };
  return { network, store, nodes, at };
}

const room = (roomId: string, collection = 'col'): RoomRecord => ({ index: 'idx', collection, roomId, filters: [[{ equals: { roomId } }]] });
const sentTypes = (node: TestNode): string[] => node.transport.sent.map((e) => e.type);
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('RealtimeSync: subscriptions', () => {
  it('the first local subscriber is counted, and every peer stores the filter before subscribed() resolves', async () => {
    const { at, store } = cluster(3);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
    assert.ok(at(1).host.hasFilter('r1'));
    assert.ok(at(2).host.hasFilter('r1'), 'node 2 stored the filter before the answer');
    assert.ok(at(3).host.hasFilter('r1'), 'node 3 stored the filter before the answer');
    assert.deepEqual(sentTypes(at(1)), ['room:add', 'room:add']);
  });

  it('alone in the cluster: counted, nothing sent', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
    assert.deepEqual(sentTypes(at(1)), []);
  });

  it('a second local subscriber is counted without announcing the room again; the same connection twice counts once', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    assert.equal(await store.countRoom('r1'), 2);
    assert.deepEqual(sentTypes(at(1)), ['room:add']);
  });

  it('a peer that does not acknowledge: resolves after the timeout, logs it, asks for a reload', async () => {
    const { at, network } = cluster(3);
    network.cutLink('n1', 'n2');
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.ok(at(3).host.hasFilter('r1'));
    assert.ok(at(1).logs.some((line) => line.includes('room r1 not acknowledged by n2')), at(1).logs.join('\n'));
    assert.deepEqual(sentTypes(at(1)), ['room:add', 'room:add', 'state:rewritten']);
  });

  it('concurrent first subscribers: the second waits for the announcement of the first', async () => {
    const { at, store } = cluster(2);
    await Promise.all([at(1).sync.subscribed(room('r1'), 'conn-1'), at(1).sync.subscribed(room('r1'), 'conn-2')]);
    assert.equal(await store.countRoom('r1'), 2);
    assert.ok(at(2).host.hasFilter('r1'));
    assert.equal(sentTypes(at(1)).filter((t) => t === 'room:add').length, 1);
  });

  it('the shared state refusing the subscriber: subscribed() rejects, the node forgets it', async () => {
    const { at, store } = cluster(2);
    store.failures.set('addSubscriber', new Error('redis down'));
    await assert.rejects(at(1).sync.subscribed(room('r1'), 'conn-1'), /redis down/);
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
    assert.equal(await store.countRoom('r1'), undefined);
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.deepEqual(sentTypes(at(1)), [], 'nothing announced, nothing removed');
  });

  it('the first subscriber failing while a second one waits: the second announces the room', async () => {
    const { at, store } = cluster(2);
    store.failures.set('addSubscriber', new Error('redis blip'));
    const first = at(1).sync.subscribed(room('r1'), 'conn-1');
    const second = at(1).sync.subscribed(room('r1'), 'conn-2');
    await assert.rejects(first, /redis blip/);
    await second;
    assert.equal(await store.countRoom('r1'), 1);
    assert.ok(at(2).host.hasFilter('r1'), 'announced by the second subscriber');
  });
});

describe('RealtimeSync: unsubscriptions', () => {
  it('the last subscriber anywhere: the room is removed from the state and from every node', async () => {
    const { at, store } = cluster(3);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(await store.countRoom('r1'), undefined);
    assert.equal(at(1).host.hasFilter('r1'), false);
    await waitFor('peers to drop the filter', () => !at(2).host.hasFilter('r1') && !at(3).host.hasFilter('r1'));
  });

  it('the last local subscriber while other nodes subscribe: the filter stays here, nothing is broadcast', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    at(1).host.removeFilter('r1'); // as Kuzzle does when its last local subscriber leaves
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
    assert.ok(at(1).host.hasFilter('r1'), 'stored again: changes made through node 1 must reach node 2');
    assert.deepEqual(sentTypes(at(1)), ['room:add']);
  });

  it('an unknown room or connection changes nothing', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.unsubscribed('r1', 'nobody');
    await at(1).sync.unsubscribed('nothing', 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
  });

  it('mayDropFilter: never for a room counted here (its leave decides), else once the cluster has nobody in it', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('mine'), 'conn-1');
    await at(2).sync.subscribed(room('both'), 'conn-2');
    await at(1).sync.subscribed(room('both'), 'conn-3');
    assert.equal(await at(1).sync.mayDropFilter('mine'), false);
    assert.equal(await at(1).sync.mayDropFilter('both'), false);
    assert.equal(await at(1).sync.mayDropFilter('unknown'), true);
    await store.addSubscriber(room('elsewhere'), 'n3#1');
    assert.equal(await at(1).sync.mayDropFilter('elsewhere'), false);
  });

  it('the last subscriber leaving drops the filter everywhere once nobody is left, and keeps it while others subscribe', async () => {
    const { at } = cluster(2);
    await at(1).sync.subscribed(room('alone'), 'conn-1');
    await at(1).sync.subscribed(room('shared'), 'conn-2');
    await at(2).sync.subscribed(room('shared'), 'conn-3');
    await at(1).sync.unsubscribed('alone', 'conn-1');
    await at(1).sync.unsubscribed('shared', 'conn-2');
    assert.equal(at(1).host.hasFilter('alone'), false, 'dropped by the leave itself');
    assert.equal(at(1).host.hasFilter('shared'), true, 'kept for the peer\'s subscriber');
    await waitFor('the peer drops it too', () => !at(2).host.hasFilter('alone'));
  });

  it('a room announced again while its last local subscriber leaves keeps its filter', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    const removeSubscriber = store.removeSubscriber.bind(store);
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    store.removeSubscriber = async (...args) => {
      const result = await removeSubscriber(...args);
      await gate; // the room is gone in the shared state; the leave has not finished
      return result;
    };
    const leaving = at(1).sync.unsubscribed('r1', 'conn-1');
    await waitFor('the room gone', async () => (await store.countRoom('r1')) === undefined);
    await at(2).sync.subscribed(room('r1'), 'conn-2'); // created again, announced to node 1
    release();
    await leaving;
    assert.equal(at(1).host.hasFilter('r1'), true);
  });

  it('room:remove keeps a filter whose room was created again meanwhile', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await store.addSubscriber(room('r1'), 'n3#1'); // another node re-creates it
    await at(1).sync.unsubscribed('r1', 'conn-1');
    await flush();
    assert.ok(at(2).host.hasFilter('r1'));
  });
});

describe('RealtimeSync: notifications', () => {
  it('forwards document and user notifications, delivered by every peer with subscribers in the rooms', async () => {
    const { at } = cluster(3);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    await at(3).sync.subscribed(room('r1'), 'conn-3');
    const request = { data: { index: 'idx' }, options: {} };
    await at(1).sync.forwardDocument({ rooms: ['r1'], request, scope: 'in', action: 'create', content: { a: 1 } });
    await at(1).sync.forwardUser({ room: 'r1', request, scope: 'in', content: { count: 1 } });
    await waitFor('deliveries', () => at(2).host.documents.length === 1 && at(3).host.users.length === 1);
    assert.deepEqual(at(3).host.documents[0]?.content, { a: 1 });
  });

  it('a peer hands the host only the rooms it has subscribers in, and nothing when it has none', async () => {
    const { at } = cluster(3);
    await at(2).sync.subscribed(room('here'), 'conn-2');
    const request = { data: { index: 'idx' }, options: {} };
    await at(1).sync.forwardDocument({ rooms: ['elsewhere', 'here'], request, scope: 'in', action: 'create', content: {} });
    await at(1).sync.forwardDocument({ rooms: ['elsewhere'], request, scope: 'in', action: 'create', content: {} });
    await at(1).sync.forwardUser({ room: 'elsewhere', request, scope: 'in', content: {} });
    await at(1).sync.forwardUser({ room: 'here', request, scope: 'in', content: {} });
    const allReceived = (node: TestNode) => {
      const { receivedByType } = node.bus.stats();
      return receivedByType['notify:document'] === 2 && receivedByType['notify:user'] === 2;
    };
    await waitFor('nodes 2 and 3 received all four', () => allReceived(at(2)) && allReceived(at(3)));
    await flush();
    assert.deepEqual(at(2).host.documents.map((d) => d.rooms), [['here']]);
    assert.deepEqual(at(2).host.users.map((u) => u.room), ['here']);
    assert.deepEqual([at(3).host.documents, at(3).host.users], [[], []]);
  });

  it('a failing delivery is counted and logged, never thrown', async () => {
    const { at } = cluster(2);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    at(2).host.failDispatch = true;
    await at(1).sync.forwardDocument({ rooms: ['r1'], request: { data: {}, options: {} }, scope: 'in', action: 'create', content: {} });
    await waitFor('the failure counted', () => at(2).bus.stats().dropped.handlerFailed === 1);
    assert.ok(at(2).logs.some((line) => line.includes('dispatch failed')));
  });

  it('malformed bodies are counted and dropped', async () => {
    const { at } = cluster(2);
    await at(1).transport.publish('notify:document', { rooms: 'r1' });
    await at(1).transport.publish('room:remove', { index: 'idx' });
    await waitFor('both counted', () => at(2).bus.stats().dropped.malformed === 2);
    assert.deepEqual(at(2).host.documents, []);
  });

  it('nothing is sent once stopped', async () => {
    const { at } = cluster(2);
    at(1).sync.stop();
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.forwardDocument({ rooms: ['r1'], request: { data: {}, options: {} }, scope: 'in', action: 'create', content: {} });
    assert.deepEqual(sentTypes(at(1)), []);
  });
});

describe('RealtimeSync: repair', () => {
  it('rewrite under a new owner writes every live subscription, purges the old owner, peers reload', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r2', 'other'), 'conn-3');
    // Node 2 was told the rooms are gone (node 1 was evicted and purged).
    await store.purgeOwner('n1#1');
    at(2).host.removeFilter('r1');
    at(2).host.removeFilter('r2');
    at(1).owner = 'n1#2';
    const written = await at(1).sync.rewrite('n1#1');
    assert.deepEqual(written, { rooms: 2, subscribers: 3 });
    assert.equal(await store.countRoom('r1'), 2);
    assert.deepEqual(await store.owners(), ['n1#2']);
    await waitFor('node 2 to have the filters back', () => at(2).host.hasFilter('r1') && at(2).host.hasFilter('r2'));
  });

  it('finds drift between local subscriptions and the shared state, and a scoped rewrite repairs it', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r2', 'other'), 'conn-2');
    await store.removeSubscriber(room('r1'), 'r1', 'n1#1'); // lost behind our back
    const drift = await at(1).sync.findDrift();
    assert.deepEqual(drift, [{ index: 'idx', collection: 'col', local: { rooms: 1, subscribers: 1 }, stored: { rooms: 0, subscribers: 0 } }]);
    await at(1).sync.rewrite(undefined, drift);
    assert.deepEqual(await at(1).sync.findDrift(), []);
    assert.equal(await store.countRoom('r1'), 1);
  });

  it('purging a dead owner removes the rooms only it held, here and on the peers', async () => {
    const { at, store } = cluster(3);
    await at(2).sync.subscribed(room('r1'), 'conn-1');
    await at(3).sync.subscribed(room('r2'), 'conn-2');
    await at(2).sync.subscribed(room('r2'), 'conn-3');
    assert.equal(await at(1).sync.purgeOwner('n2#1'), 1);
    assert.equal(await store.countRoom('r1'), undefined);
    assert.equal(await store.countRoom('r2'), 1);
    assert.equal(at(1).host.hasFilter('r1'), false);
    await waitFor('node 3 to drop r1', () => !at(3).host.hasFilter('r1'));
    assert.ok(at(3).host.hasFilter('r2'));
  });

  it('resyncAll loads every room of the shared state', async () => {
    const { at, store } = cluster(1);
    for (let i = 0; i < 20; i++) await store.addSubscriber(room(`r${i}`, `c${i % 3}`), 'other#1');
    assert.equal(await at(1).sync.resyncAll(), 20);
    assert.equal(at(1).host.stored.size, 20);
  });
});
