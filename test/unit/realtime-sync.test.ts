import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MessageBus } from '../../src/bus/message-bus';
import type { RoomRecord } from '../../src/state/realtime-store';
import { roomWeight } from '../../src/state/room-weight';
import { MAX_DOCUMENTS_PER_MESSAGE } from '../../src/sync/messages';
import type { ChangeNotice, PendingChange } from '../../src/sync/realtime-host';
import { RealtimeSync } from '../../src/sync/realtime-sync';
import type { LogLevel } from '../../src/util/log';
import { waitFor } from '../harness/wait';
import { FakeHost } from '../support/fake-host';
import { MemoryRealtimeStore } from '../support/memory-realtime-store';
import { MemoryNetwork, type MemoryTransport } from '../support/memory-transport';

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
    transport.setIncarnation(1);
    const logs: string[] = [];
    const log = (level: LogLevel, message: string) => logs.push(`${level}: ${message}`);
    const bus = new MessageBus(transport, log);
    bus.setMemberGate((sender) => ids.includes(sender.id));
    const host = new FakeHost();
    const node: TestNode = { id, owner: `${id}#1`, transport, bus, host, logs, sync: undefined as unknown as RealtimeSync };
    node.sync = new RealtimeSync(store, bus, host, {
      owner: () => node.owner,
      peers: () => ids.filter((other) => other !== id).map((other) => ({ id: other, incarnation: 1 })),
      ackTimeoutMs: 300,
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

/** A store whose `held` write waits until `release()`: a Redis write under way. */
function heldStore(held: 'addSubscriber' | 'replaceOwner'): { store: MemoryRealtimeStore; release: () => void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const wait = async (name: typeof held): Promise<void> => {
    if (name === held) await gate;
  };
  class HeldStore extends MemoryRealtimeStore {
    override async addSubscriber(...args: Parameters<MemoryRealtimeStore['addSubscriber']>): ReturnType<MemoryRealtimeStore['addSubscriber']> {
      await wait('addSubscriber');
      return super.addSubscriber(...args);
    }

    override async replaceOwner(...args: Parameters<MemoryRealtimeStore['replaceOwner']>): ReturnType<MemoryRealtimeStore['replaceOwner']> {
      await wait('replaceOwner');
      return super.replaceOwner(...args);
    }
  }
  return { store: new HeldStore(), release };
}

const room = (roomId: string, collection = 'col'): RoomRecord => ({ index: 'idx', collection, roomId, filters: [[{ equals: { roomId } }]] });
const sentTypes = (node: TestNode): string[] => node.transport.sent.map((e) => e.type);
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const change = (collection = 'col', documents: Array<Record<string, unknown>> = [{ _id: 'd1', _source: { a: 1 } }]): ChangeNotice => ({
  index: 'idx',
  collection,
  action: 'create',
  request: { data: { index: 'idx', collection, controller: 'document', action: 'create' }, options: {} },
  documents,
});
/** A change as the change capture hands it over: its request serialized only when sent. */
const pending = (notice: ChangeNotice): PendingChange => ({ ...notice, request: () => notice.request });

/** Node 2 subscribed; a first change from node 1 held in node 2's delivery until `open()`. */
async function slowFirstChange() {
  const { at } = cluster(2);
  await at(2).sync.subscribed(room('r1'), 'conn-2');
  let open = (): void => undefined;
  at(2).host.gate = new Promise<void>((resolve) => (open = resolve));
  await at(1).sync.forwardChange(pending(change('col', [{ _id: 'first' }])));
  await waitFor('the first to wait', () => at(2).sync.changes.applied === 1);
  at(2).host.gate = undefined;
  return { at, open };
}

describe('RealtimeSync: subscriptions', () => {
  it('the first local subscriber is counted, its filter stored here only; peers only record that this node listens to the collection, before subscribed() resolves', async () => {
    const { at, store } = cluster(3);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
    assert.ok(at(1).host.hasFilter('r1'));
    assert.equal(at(2).host.hasFilter('r1'), false);
    assert.equal(at(3).host.hasFilter('r1'), false);
    assert.deepEqual(sentTypes(at(1)), ['interest:add', 'interest:add']);
  });

  it('alone in the cluster: counted, nothing sent', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
    assert.deepEqual(sentTypes(at(1)), []);
  });

  it('more rooms and subscribers in a collection already listened to: nothing sent; the same connection twice counts once', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r2'), 'conn-3');
    assert.equal(await store.countRoom('r1'), 2);
    assert.equal(await at(1).sync.enter(room('r1'), 'conn-4').counted, 3);
    assert.deepEqual(sentTypes(at(1)), ['interest:add']);
  });

  it('another channel of a connection already counted in the room writes nothing, so a Redis failure cannot refuse it (its undo would take the working channel out too)', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    store.failures.set('countRoom', new Error('Redis down'));
    store.failures.set('addSubscriber', new Error('Redis down'));
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.ok(store.failures.has('countRoom') && store.failures.has('addSubscriber'), 'nothing read or written');
    store.failures.clear();
    assert.equal(await store.countRoom('r1'), 1);
  });

  it('concurrent first subscribers of a collection: one announcement, both wait for it', async () => {
    const { at, store } = cluster(2);
    await Promise.all([at(1).sync.subscribed(room('r1'), 'conn-1'), at(1).sync.subscribed(room('r2'), 'conn-2')]);
    assert.equal(await store.countRoom('r1'), 1);
    assert.deepEqual(sentTypes(at(1)), ['interest:add']);
  });

  it('a peer that does not record it: resolves after the timeout, logs it, asks again in the background', async () => {
    const { at, network } = cluster(3);
    network.cutLink('n1', 'n2');
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.ok(at(1).logs.some((line) => line.includes('n2 did not record that this node listens to idx/col (attempt 1)')), at(1).logs.join('\n'));
    await waitFor('a second attempt', () => at(1).logs.some((line) => line.includes('(attempt 2)')));
  });

  it('the shared state refusing the subscriber: subscribed() rejects, the node forgets it', async () => {
    const { at, store } = cluster(2);
    store.failures.set('addSubscriber', new Error('redis down'));
    await assert.rejects(at(1).sync.subscribed(room('r1'), 'conn-1'), /redis down/);
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
    assert.equal(await store.countRoom('r1'), undefined);
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.deepEqual(sentTypes(at(1)), ['interest:add', 'interest:remove'], 'announced, then withdrawn with the forgotten room');
  });
});

describe('RealtimeSync: unsubscriptions', () => {
  it('a client dropping while its subscription is still being written: it leaves counted nowhere, with its own event', async () => {
    const { at, store } = cluster(1);
    // The user notification of the entry, then the one of the leave (a disconnect) before the subscription's own call.
    const entered = at(1).sync.enter(room('r1'), 'conn-1');
    const left = at(1).sync.leave('r1', 'conn-1');
    assert.notEqual(left, entered, 'the leave is its own event');
    assert.equal(await entered.counted, 1);
    assert.equal(await left.counted, 0);
    await at(1).sync.subscribed(room('r1'), 'conn-1').catch(() => undefined);
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(await store.countRoom('r1'), undefined, 'no ghost left in the shared state');
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
  });

  it('the last subscriber anywhere: the room is removed from the shared state; the last room of the collection here is withdrawn from the peers', async () => {
    const { at, store } = cluster(3);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r2'), 'conn-2');
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(await store.countRoom('r1'), undefined);
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
    assert.deepEqual(sentTypes(at(1)), ['interest:add', 'interest:add']);
    assert.deepEqual(at(1).host.listening, ['+idx/col']);
    await at(1).sync.unsubscribed('r2', 'conn-2');
    assert.deepEqual(sentTypes(at(1)).slice(2), ['interest:remove', 'interest:remove']);
    assert.deepEqual(at(1).host.listening, ['+idx/col', '-idx/col'], 'the host is told when peers start and stop sending the collection\'s changes');
  });

  it('the last local subscriber while another node subscribes: the count left is the other node\'s', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    assert.equal(await at(1).sync.leave('r1', 'conn-1').counted, 1);
    assert.equal(await store.countRoom('r1'), 1);
  });

  it('an entry whose second call never came does not stand for the next subscription of that connection to that room', async () => {
    const { at, store } = cluster(2);
    // Kuzzle calls subscribe:after only for what it tells its cluster about: here it did not.
    assert.equal(await at(1).sync.enter(room('r1'), 'conn-1').counted, 1);
    assert.equal(await at(1).sync.leave('r1', 'conn-1').counted, 0);
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
    // The same connection subscribes again, within the pending events' minute.
    assert.equal(await at(1).sync.enter(room('r1'), 'conn-1').counted, 1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), true, 'held here again');
    assert.equal(await store.countRoom('r1'), 1, 'counted again');
  });

  it('a leave whose second call never came (a refused subscription undone without notifying) does not stand for the next leave', async () => {
    const { at, store } = cluster(1);
    store.failures.set('addSubscriber', new Error('redis down'));
    await assert.rejects(at(1).sync.enter(room('r1'), 'conn-1').counted, /redis down/);
    await assert.rejects(at(1).sync.subscribed(room('r1'), 'conn-1'), /redis down/);
    // The glue undoes it with notify = false: Kuzzle's user notification of the leave, no unsubscribe:after.
    await at(1).sync.leave('r1', 'conn-1').counted;
    store.failures.delete('addSubscriber');
    assert.equal(await at(1).sync.enter(room('r1'), 'conn-1').counted, 1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    assert.equal(await at(1).sync.leave('r1', 'conn-1').counted, 0, 'the new leave is counted');
    await at(1).sync.unsubscribed('r1', 'conn-1');
    assert.equal(await store.countRoom('r1'), undefined, 'no ghost left in the shared state');
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
  });

  it('a client leaving while its subscription waits for a rewrite: the filter the host dropped with it is not stored again', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r0'), 'conn-0');
    at(1).host.storeFilter(room('r1')); // Kuzzle stores the filter before it tells the cluster
    const rewriting = at(1).sync.rewrite();
    const entered = at(1).sync.enter(room('r1'), 'conn-1');
    // The client drops meanwhile: Kuzzle removes the room and its filter with its last subscriber, then tells the cluster.
    at(1).host.stored.delete('r1');
    const left = at(1).sync.leave('r1', 'conn-1');
    await rewriting;
    assert.equal(await entered.counted, 1);
    assert.equal(await left.counted, 0);
    assert.equal(at(1).host.hasFilter('r1'), false, 'no filter left without a subscriber');
    assert.equal(at(1).sync.hasLocalSubscribers('r1'), false);
    assert.equal(await store.countRoom('r1'), undefined);
  });

  it('realtime:list of rooms in indexes named like Object properties lists them, and changes no prototype', async () => {
    const { at } = cluster(1);
    const odd = (index: string, roomId: string): RoomRecord => ({ index, collection: 'polluted', roomId, filters: [[{ equals: { roomId } }]] });
    await at(1).sync.subscribed(odd('__proto__', 'r1'), 'conn-1');
    await at(1).sync.subscribed(odd('constructor', 'r2'), 'conn-2');
    const list = await at(1).sync.listRooms(async () => true);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
    // JSON.parse makes "__proto__" an own key, as the client reads it.
    assert.deepEqual(JSON.parse(JSON.stringify(list)), JSON.parse('{"__proto__":{"polluted":{"r1":1}},"constructor":{"polluted":{"r2":1}}}'));
  });

  it('an unknown room or connection changes nothing', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.unsubscribed('r1', 'nobody');
    await at(1).sync.unsubscribed('nothing', 'conn-1');
    assert.equal(await store.countRoom('r1'), 1);
  });
});

describe('RealtimeSync: joins of rooms created elsewhere', () => {
  it('the filter comes from the shared state into this node\'s engine; an unknown room gives nothing', async () => {
    const { at } = cluster(2);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    assert.equal(at(1).host.hasFilter('r1'), false);
    assert.deepEqual(await at(1).sync.prepareJoin('r1'), room('r1'));
    assert.ok(at(1).host.hasFilter('r1'));
    assert.equal(await at(1).sync.prepareJoin('unknown'), undefined);
  });

  it('a room still recorded here whose filter the host dropped (its last leave waiting for the lock) gets its filter back', async () => {
    const { at } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    at(1).host.stored.delete('r1');
    assert.equal((await at(1).sync.prepareJoin('r1'))?.roomId, 'r1');
    assert.ok(at(1).host.hasFilter('r1'));
  });

  it('a filter the engine refuses: no join, counted and logged', async () => {
    const { at, store } = cluster(1);
    await store.addSubscriber({ ...room('bad'), filters: 'not a filter' }, 'n9#1');
    assert.equal(await at(1).sync.prepareJoin('bad'), undefined);
    assert.equal(at(1).sync.badFilters, 1);
    assert.ok(at(1).logs.some((line) => line.includes('room bad of the shared state cannot be joined here')));
  });
});

describe('RealtimeSync: changes and notifications', () => {
  it('a change nobody listens to is not sent once the peers\' lists are known; one somebody listens to goes to that peer', async () => {
    const { at } = cluster(3);
    const send = (node: TestNode, notice: ChangeNotice): Promise<void> => node.sync.forwardChange(pending(notice));
    await send(at(1), change('nobody'));
    assert.deepEqual(at(1).sync.changes, { sent: 1, addressed: 0, unsent: 0, applied: 0, ignored: 0, failed: 0, tooLarge: 0 }, 'sent to all while the peers\' lists are unknown');
    await waitFor('both lists', () => at(2).bus.stats().receivedByType['interest:list'] === 1 && at(3).bus.stats().receivedByType['interest:list'] === 1);
    await flush();
    let serialized = 0;
    await at(1).sync.forwardChange({ ...change('nobody'), request: () => (serialized++, change('nobody').request) });
    assert.deepEqual([at(1).sync.changes.unsent, serialized], [1, 0], 'not sent, its request not even serialized');
    await at(3).sync.subscribed(room('r3', 'somebody'), 'conn-3');
    await send(at(1), change('somebody'));
    assert.equal(at(1).sync.changes.sent, 2);
    assert.equal(at(1).sync.changes.addressed, 1, 'to node 3 alone');
    await waitFor('node 3 to match it', () => at(3).host.changes.length === 1);
    await at(3).sync.unsubscribed('r3', 'conn-3');
    await waitFor('node 1 to hear of it', () => at(1).bus.stats().receivedByType['interest:remove'] === 1);
    await send(at(1), change('somebody'));
    assert.equal(at(1).sync.changes.unsent, 2);
  });

  it('a change goes to the peers listening to its collection only; while their lists are unknown, to every peer, and those without a filter there drop it at once', async () => {
    const { at } = cluster(3);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    await at(3).sync.subscribed(room('r2', 'elsewhere'), 'conn-3');
    await at(1).sync.forwardChange(pending(change()));
    await waitFor('node 2 to match it', () => at(2).host.changes.length === 1);
    await waitFor('node 3 to drop it', () => at(3).sync.changes.ignored === 1);
    assert.deepEqual(at(2).host.changes[0], change());
    assert.deepEqual(at(3).host.changes, []);
    assert.deepEqual(sentTypes(at(1)).filter((type) => type === 'change:documents'), ['change:documents']);
    assert.equal(at(1).transport.stats().published, 1, 'one broadcast while the lists are unknown');
    assert.deepEqual(at(2).sync.changes, { sent: 0, addressed: 0, unsent: 0, applied: 1, ignored: 0, failed: 0, tooLarge: 0 });

    await waitFor('both lists', () => at(2).bus.stats().receivedByType['interest:list'] === 1 && at(3).bus.stats().receivedByType['interest:list'] === 1);
    await flush();
    const atNode3 = at(3).transport.stats().received;
    await at(1).sync.forwardChange(pending(change('col', [{ _id: 'd2' }])));
    await waitFor('node 2 to match the second', () => at(2).host.changes.length === 2);
    await flush();
    assert.equal(at(3).transport.stats().received, atNode3, 'node 3, without rooms in the collection, never received the second');
    assert.equal(at(3).sync.changes.ignored, 1);
    assert.equal(at(1).transport.stats().addressed, 1, 'one copy, to node 2');
    assert.deepEqual(at(1).sync.changes, { sent: 2, addressed: 1, unsent: 0, applied: 0, ignored: 0, failed: 0, tooLarge: 0 });
  });

  it('a peer subscribing while changes flow gets every change made once subscribed() resolved, once each, in order; none after it left', async () => {
    const { at } = cluster(3);
    // Node 1 knows both peers' lists: its changes are addressed, never broadcast.
    await at(1).sync.forwardChange(pending(change('warmup')));
    await waitFor('both lists', () => at(2).bus.stats().receivedByType['interest:list'] === 1 && at(3).bus.stats().receivedByType['interest:list'] === 1);
    await flush();
    const ignoredAtNode3 = at(3).sync.changes.ignored;
    let made = 0;
    let flowing = true;
    const flow = (async () => {
      while (flowing) {
        made++;
        const notice = change('col', [{ _id: `d${made}` }]);
        await at(1).sync.forwardChange(pending(notice));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    await waitFor('changes to flow', () => made > 20);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    const live = made + 1;
    const received = (): number[] => at(2).host.changes.map((notice) => Number(String(notice.documents[0]?._id).slice(1)));
    await waitFor('more changes', () => made > live + 50);
    const leaving = made;
    await waitFor('node 2 to receive the changes made so far', () => received().includes(leaving));
    await at(2).sync.unsubscribed('r1', 'conn-2');
    await waitFor('node 1 to hear of it', () => at(1).bus.stats().receivedByType['interest:remove'] === 1);
    const gone = made;
    const ignoredAtNode2 = at(2).sync.changes.ignored;
    await waitFor('more changes after it left', () => made > gone + 20);
    flowing = false;
    await flow;
    await flush();
    const ids = received();
    assert.deepEqual(ids, [...new Set(ids)], 'nothing twice');
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in order');
    for (let id = live; id <= leaving; id++) assert.ok(ids.includes(id), `change d${id} reached node 2`);
    assert.equal(at(2).sync.changes.ignored, ignoredAtNode2, 'none sent to node 2 after node 1 heard it left');
    assert.equal(at(3).sync.changes.ignored, ignoredAtNode3, 'node 3 never listened, never received any');
    assert.ok(at(1).sync.changes.addressed > 50);
    assert.equal(at(1).transport.stats().published, 1, 'no broadcast but the first one, sent while the lists were unknown');
  });

  it('changes of one collection are matched in the order they came, a slow one holding the next', async () => {
    const { at, open } = await slowFirstChange();
    await at(1).sync.forwardChange(pending(change('col', [{ _id: 'second' }])));
    await waitFor('the second to arrive', () => at(2).bus.stats().receivedByType['change:documents'] === 2);
    await flush();
    assert.deepEqual(at(2).host.changes, [], 'the second waits behind the first');
    open();
    await waitFor('both delivered', () => at(2).host.changes.length === 2);
    assert.deepEqual(at(2).host.changes.map((c) => c.documents[0]?._id), ['first', 'second']);
  });

  it('a change the host fails on at once, behind a slow one: counted and logged, and the later changes of the collection still delivered', async () => {
    const { at, open } = await slowFirstChange();
    at(2).host.throwOn = 'bad';
    await at(1).sync.forwardChange(pending(change('col', [{ _id: 'bad' }])));
    await at(1).sync.forwardChange(pending(change('col', [{ _id: 'third' }])));
    await waitFor('both to arrive', () => at(2).bus.stats().receivedByType['change:documents'] === 3);
    open();
    await waitFor('the third delivered', () => at(2).host.changes.length === 2);
    assert.deepEqual(at(2).host.changes.map((c) => c.documents[0]?._id), ['first', 'third']);
    assert.equal(at(2).sync.changes.failed, 1);
    assert.ok(at(2).logs.some((line) => line.includes('cannot rebuild')), at(2).logs.join('\n'));
  });

  it('a bulk change travels in messages of at most MAX_DOCUMENTS_PER_MESSAGE documents', async () => {
    const { at } = cluster(2);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    const documents = Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE * 2 + 1 }, (_, i) => ({ _id: `d${i}` }));
    await at(1).sync.forwardChange(pending(change('col', documents)));
    await waitFor('all three parts', () => at(2).host.changes.length === 3);
    assert.deepEqual(at(2).host.changes.map((c) => c.documents.length), [MAX_DOCUMENTS_PER_MESSAGE, MAX_DOCUMENTS_PER_MESSAGE, 1]);
  });

  it('user notifications reach the host only where the room has subscribers', async () => {
    const { at } = cluster(3);
    await at(2).sync.subscribed(room('here'), 'conn-2');
    const request = { data: { index: 'idx' }, options: {} };
    await at(1).sync.forwardUser({ room: 'elsewhere', request, scope: 'in', content: {} });
    await at(1).sync.forwardUser({ room: 'here', request, scope: 'in', content: { count: 1 } });
    await waitFor('nodes 2 and 3 received both', () => [at(2), at(3)].every((node) => node.bus.stats().receivedByType['notify:user'] === 2));
    await flush();
    assert.deepEqual(at(2).host.users.map((u) => u.room), ['here']);
    assert.deepEqual(at(3).host.users, []);
  });

  it('a user notification goes to the peers listening to its room\'s collection only', async () => {
    const { at } = cluster(3);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    await at(3).sync.subscribed(room('r3', 'elsewhere'), 'conn-3');
    // Node 1 learns its peers' lists (asked with its first change).
    await at(1).sync.forwardChange(pending(change('warmup')));
    await waitFor('both lists', () => at(2).bus.stats().receivedByType['interest:list'] === 1 && at(3).bus.stats().receivedByType['interest:list'] === 1);
    await flush();
    const atNode3 = at(3).transport.stats().received;
    const request = { data: { index: 'idx' }, options: {} };
    await at(1).sync.forwardUser({ room: 'r1', request, scope: 'in', content: { count: 2 } });
    await waitFor('node 2 to deliver it', () => at(2).host.users.length === 1);
    await flush();
    assert.equal(at(3).transport.stats().received, atNode3, 'node 3, without rooms in the collection, never received it');
    assert.equal(at(1).transport.stats().addressed, 1);
  });

  it('a failing delivery is counted and logged, never thrown', async () => {
    const { at } = cluster(2);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    at(2).host.failDispatch = true;
    await at(1).sync.forwardChange(pending(change()));
    await waitFor('the failure counted', () => at(2).sync.changes.failed === 1);
    assert.ok(at(2).logs.some((line) => line.includes('dispatch failed')));
  });

  it('malformed bodies are counted and dropped', async () => {
    const { at } = cluster(2);
    await at(2).sync.subscribed(room('r1'), 'conn-2');
    await at(1).transport.publish('change:documents', { ...change(), action: 'explode' });
    await at(1).transport.publish('change:documents', { ...change(), documents: [] });
    await at(1).transport.publish('change:documents', { ...change(), documents: Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE + 1 }, () => ({})) });
    await waitFor('all counted', () => at(2).bus.stats().dropped.malformed === 3);
    assert.deepEqual(at(2).host.changes, []);
  });

  it('nothing is sent once stopped', async () => {
    const { at } = cluster(2);
    at(1).sync.stop();
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.forwardChange(pending(change()));
    assert.deepEqual(sentTypes(at(1)), []);
  });
});

describe('RealtimeSync: repair', () => {
  it('rewrite under a new owner writes every live subscription and purges the old owner', async () => {
    const { at, store } = cluster(2);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r2', 'other'), 'conn-3');
    await store.purgeOwner('n1#1'); // node 1 was evicted and purged
    at(1).owner = 'n1#2';
    const written = await at(1).sync.rewrite(['n1#1']);
    assert.deepEqual(written, { rooms: 2, subscribers: 3 });
    assert.equal(await store.countRoom('r1'), 2);
    assert.deepEqual(await store.owners(), ['n1#2']);
    assert.deepEqual(sentTypes(at(1)), ['interest:add', 'interest:add'], 'peers need nothing more: they hold none of these filters');
  });

  it('finds drift between local subscriptions and the shared state, and a scoped rewrite repairs it', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r2', 'other'), 'conn-2');
    await store.removeSubscriber(room('r1'), 'r1', 'n1#1'); // lost behind our back
    const drift = await at(1).sync.findDrift();
    assert.deepEqual(drift, [{ index: 'idx', collection: 'col', local: { rooms: 1, subscribers: 1, checksum: roomWeight('r1') }, stored: { rooms: 0, subscribers: 0, checksum: 0 } }]);
    await at(1).sync.rewrite([], drift);
    assert.deepEqual(await at(1).sync.findDrift(), []);
    assert.equal(await store.countRoom('r1'), 1);
  });

  it("writes back the index entries of its rooms that the index lost, not those of a room it left", async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r2'), 'conn-2');
    store.unlisted.add('r1').add('r2');
    const checking = at(1).sync.restoreEntries();
    // r2 left while the check read the index: its entry is not written back.
    await at(1).sync.unsubscribed('r2', 'conn-2');
    assert.equal(await checking, 1);
    assert.deepEqual([...store.unlisted], ['r2']);
    assert.equal(await at(1).sync.restoreEntries(), 0);
    // A leaving node's purge removed its entries: the check writes none back.
    store.unlisted.add('r1');
    at(1).sync.beginLeave();
    assert.equal(await at(1).sync.restoreEntries(), 0);
    assert.ok(store.unlisted.has('r1'));
  });

  it('a subscriber counted in another room of the collection is drift although the totals agree, and the rewrite puts it back', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    await at(1).sync.subscribed(room('r1'), 'conn-2');
    await at(1).sync.subscribed(room('r2'), 'conn-3');
    // A batch [r1 -1, r2 +1] applied once more after its reply was lost: r1 1, r2 2 stored against 2 and 1 here.
    await store.removeSubscriber(room('r1'), 'r1', 'n1#1');
    await store.addSubscriber(room('r2'), 'n1#1', 1);
    const drift = await at(1).sync.findDrift();
    assert.equal(drift.length, 1);
    assert.deepEqual([drift[0]?.local.rooms, drift[0]?.local.subscribers], [drift[0]?.stored.rooms, drift[0]?.stored.subscribers], 'the totals agree');
    await at(1).sync.rewrite([], drift);
    assert.deepEqual(await at(1).sync.findDrift(), []);
    assert.deepEqual([await store.countRoom('r1'), await store.countRoom('r2')], [2, 1]);
  });

  it('a rewrite waiting for the lock when the node leaves does not write back what the leave purges', async () => {
    const { at, store } = cluster(1);
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    const entered = at(1).sync.enter(room('r2'), 'conn-2'); // holds the lock while its write is under way
    const rewriting = at(1).sync.rewrite(); // a drift repair, waiting for it
    at(1).sync.beginLeave();
    const purged = at(1).sync.purgeOwnSubscribers();
    await Promise.all([entered.counted, rewriting, purged]);
    assert.equal(await store.countRoom('r1'), undefined);
    assert.equal(await store.countRoom('r2'), undefined);
    assert.deepEqual(await store.owners(), []);
  });

  it('a subscription under way is no drift: the check waits for its write before it reports a difference', async () => {
    const { store: held, release } = heldStore('addSubscriber');
    const { at } = cluster(1, held);
    const entered = at(1).sync.enter(room('r1'), 'conn-1'); // held here, its write under way
    const checking = at(1).sync.findDrift();
    await flush();
    release();
    assert.deepEqual(await checking, [], 'confirmed once the write was done');
    await entered.done;
  });

  it('a leave during a rewrite\'s writes stops them; the previous incarnation it replaces is purged all the same', async () => {
    // The rewrite's writes are under way (a Redis store writes in batches, asking `abandoned` before each).
    const { store: held, release } = heldStore('replaceOwner');
    const { at, store } = cluster(1, held);
    await store.addSubscriber(room('old'), 'n1#0'); // left by the previous incarnation
    await at(1).sync.subscribed(room('r1'), 'conn-1');
    at(1).owner = 'n1#2'; // joined again: the rewrite moves its rooms to the new incarnation
    const rewriting = at(1).sync.rewrite(['n1#0', 'n1#1']);
    at(1).sync.beginLeave();
    const purged = at(1).sync.purgeOwnSubscribers();
    release();
    await Promise.all([rewriting, purged]);
    assert.deepEqual(await store.owners(), [], 'nothing left of any incarnation');
    assert.equal(await store.countRoom('r1'), undefined, 'the new incarnation\'s rooms never written');
  });

  it('purging a dead owner removes the rooms only it held', async () => {
    const { at, store } = cluster(3);
    await at(2).sync.subscribed(room('r1'), 'conn-1');
    await at(3).sync.subscribed(room('r2'), 'conn-2');
    await at(2).sync.subscribed(room('r2'), 'conn-3');
    assert.equal(await at(1).sync.purgeOwner('n2#1'), 1);
    assert.equal(await store.countRoom('r1'), undefined);
    assert.equal(await store.countRoom('r2'), 1);
  });
});
