import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';

import type { LogLevel } from '../../src/log';
import type { CollectionSnapshot, RealtimeState, RoomDescription } from '../../src/state/realtime-state';
import type { DocumentNotice, RealtimeHost, RoomDescriptor, UserNotice } from '../../src/sync/realtime-host';
import { RealtimeSync } from '../../src/sync/realtime-sync';
import type { Envelope, NodeAddresses } from '../../src/transport/envelope';
import type { BroadcastHandler, RequestHandler, Transport, TransportStats } from '../../src/transport/transport';

const NODE_ID = 'node-A';
const ACK_TIMEOUT_MS = 1234;

// ---------------------------------------------------------------------------
// Doubles
// ---------------------------------------------------------------------------

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending microtask and I/O callback run. */
async function flush(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise settled, without leaving a rejection unhandled. */
function track(promise: Promise<void>): { settled: () => boolean; promise: Promise<void> } {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { settled: () => done, promise };
}

interface SentRequest {
  peer: string;
  type: string;
  body: unknown;
  timeoutMs: number;
  reply: Deferred<Envelope>;
}

type ReplyPolicy = 'auto' | 'manual' | Error;

/** Records publishes and requests; replies according to a per-peer policy. */
class FakeTransport implements Transport {
  readonly nodeId = NODE_ID;
  readonly published: Array<{ type: string; body: unknown }> = [];
  readonly requests: SentRequest[] = [];
  /** Policy by peer; peers not listed use `defaultPolicy`. */
  readonly policies = new Map<string, ReplyPolicy>();
  defaultPolicy: ReplyPolicy = 'auto';
  publishError: Error | undefined;

  bind(): Promise<NodeAddresses> {
    return Promise.reject(new Error('not used'));
  }
  connect(): void {}
  disconnect(): void {}
  peers(): string[] {
    return [];
  }
  publish(type: string, body: unknown): Promise<void> {
    if (this.publishError) return Promise.reject(this.publishError);
    this.published.push({ type, body });
    return Promise.resolve();
  }
  request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    const reply = deferred<Envelope>();
    this.requests.push({ peer: peerId, type, body, timeoutMs, reply });
    const policy = this.policies.get(peerId) ?? this.defaultPolicy;
    if (policy === 'auto') reply.resolve(replyFrom(peerId, body));
    else if (policy instanceof Error) reply.reject(policy);
    return reply.promise;
  }
  onBroadcast(_handler: BroadcastHandler): void {}
  onRequest(_handler: RequestHandler): void {}
  stats(): TransportStats {
    return { published: this.published.length, received: 0, requestsSent: this.requests.length, requestsReceived: 0, malformed: 0, timeouts: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Replies to every pending request sent to `peer`. */
  ack(peer: string): void {
    for (const request of this.requests) if (request.peer === peer) request.reply.resolve(replyFrom(peer, request.body));
  }

  typesPublished(): string[] {
    return this.published.map((p) => p.type);
  }
}

function replyFrom(peer: string, body: unknown): Envelope {
  const roomId = typeof body === 'object' && body !== null && 'roomId' in body ? body.roomId : undefined;
  return { v: 1, type: 'room:added', from: peer, seq: 0, body: { roomId } };
}

/** A Koncorde stand-in: the filters it holds, and every call made to it. */
class FakeHost implements RealtimeHost {
  readonly koncorde = new Map<string, RoomDescriptor>();
  readonly stored: RoomDescriptor[] = [];
  readonly removed: string[] = [];
  readonly documents: DocumentNotice[] = [];
  readonly users: UserNotice[] = [];
  dispatchError: Error | undefined;

  storeFilter(room: RoomDescriptor): void {
    this.stored.push(room);
    this.koncorde.set(room.roomId, { index: room.index, collection: room.collection, roomId: room.roomId, filters: room.filters });
  }
  removeFilter(roomId: string): void {
    this.removed.push(roomId);
    this.koncorde.delete(roomId);
  }
  hasFilter(roomId: string): boolean {
    return this.koncorde.has(roomId);
  }
  filters(): Array<{ index: string; collection: string; roomId: string }> {
    return [...this.koncorde.values()].map(({ index, collection, roomId }) => ({ index, collection, roomId }));
  }
  createLocalRoom(): Promise<void> {
    return Promise.resolve();
  }
  dispatchDocument(notice: DocumentNotice): Promise<void> {
    this.documents.push(notice);
    return this.dispatchError ? Promise.reject(this.dispatchError) : Promise.resolve();
  }
  dispatchUser(notice: UserNotice): Promise<void> {
    this.users.push(notice);
    return this.dispatchError ? Promise.reject(this.dispatchError) : Promise.resolve();
  }
}

interface StoredRoom {
  index: string;
  collection: string;
  filters: unknown;
  nodes: Map<string, number>;
}

/** An in-memory RealtimeState with only what RealtimeSync calls. */
class FakeState {
  readonly rooms = new Map<string, StoredRoom>();
  readonly versions = new Map<string, number>();
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  /** Makes the next addSubscriber call fail (once). */
  failNextAdd: Error | undefined;
  /** When set, addSubscriber waits for it before answering. */
  addGate: Promise<void> | undefined;

  private bump(index: string, collection: string): number {
    const key = `${index}/${collection}`;
    const version = (this.versions.get(key) ?? 0) + 1;
    this.versions.set(key, version);
    return version;
  }

  private total(room: StoredRoom): number {
    let sum = 0;
    for (const count of room.nodes.values()) sum += count;
    return sum;
  }

  /** Subscribers of other nodes, written directly (no version bump seen by the sync). */
  seed(room: RoomDescriptor, nodeId: string, count: number): void {
    const stored = this.rooms.get(room.roomId) ?? { index: room.index, collection: room.collection, filters: room.filters, nodes: new Map<string, number>() };
    stored.nodes.set(nodeId, (stored.nodes.get(nodeId) ?? 0) + count);
    this.rooms.set(room.roomId, stored);
  }

  countOf(roomId: string, nodeId: string): number {
    return this.rooms.get(roomId)?.nodes.get(nodeId) ?? 0;
  }

  called(method: string): Array<unknown[]> {
    return this.calls.filter((call) => call.method === method).map((call) => call.args);
  }

  async addSubscriber(room: RoomDescription, nodeId: string, count = 1): Promise<{ version: number; total: number; created: boolean }> {
    this.calls.push({ method: 'addSubscriber', args: [room.roomId, nodeId] });
    const failure = this.failNextAdd;
    this.failNextAdd = undefined;
    if (this.addGate) await this.addGate;
    if (failure) throw failure;
    const existing = this.rooms.get(room.roomId);
    const stored = existing ?? { index: room.index, collection: room.collection, filters: room.filters, nodes: new Map<string, number>() };
    stored.nodes.set(nodeId, (stored.nodes.get(nodeId) ?? 0) + count);
    this.rooms.set(room.roomId, stored);
    return { version: this.bump(room.index, room.collection), total: this.total(stored), created: !existing };
  }

  async removeSubscriber(
    index: string,
    collection: string,
    roomId: string,
    nodeId: string,
    count = 1,
  ): Promise<{ version: number; total: number; removed: boolean }> {
    this.calls.push({ method: 'removeSubscriber', args: [index, collection, roomId, nodeId] });
    const stored = this.rooms.get(roomId);
    if (stored) {
      const left = (stored.nodes.get(nodeId) ?? 0) - count;
      if (left > 0) stored.nodes.set(nodeId, left);
      else stored.nodes.delete(nodeId);
    }
    const total = stored ? this.total(stored) : 0;
    const removed = stored !== undefined && total === 0;
    if (removed) this.rooms.delete(roomId);
    return { version: this.bump(index, collection), total, removed };
  }

  async countRoom(roomId: string): Promise<number | undefined> {
    this.calls.push({ method: 'countRoom', args: [roomId] });
    const stored = this.rooms.get(roomId);
    return stored ? this.total(stored) : undefined;
  }

  async getCollection(index: string, collection: string): Promise<CollectionSnapshot> {
    this.calls.push({ method: 'getCollection', args: [index, collection] });
    const rooms = [...this.rooms.entries()]
      .filter(([, room]) => room.index === index && room.collection === collection)
      .map(([roomId, room]) => ({ roomId, filters: room.filters, counts: Object.fromEntries(room.nodes), total: this.total(room) }));
    return { index, collection, version: this.versions.get(`${index}/${collection}`) ?? 0, rooms };
  }
}

interface Fixture {
  sync: RealtimeSync;
  state: FakeState;
  transport: FakeTransport;
  host: FakeHost;
  logs: Array<{ level: LogLevel; message: string }>;
}

const live: RealtimeSync[] = [];

function setup(peers: string[] = ['node-B', 'node-C']): Fixture {
  const state = new FakeState();
  const transport = new FakeTransport();
  const host = new FakeHost();
  const logs: Array<{ level: LogLevel; message: string }> = [];
  // The one cast: the double implements only the methods RealtimeSync calls.
  const sync = new RealtimeSync(state as unknown as RealtimeState, transport, host, {
    nodeId: NODE_ID,
    ackTimeoutMs: ACK_TIMEOUT_MS,
    gapWaitMs: 60_000,
    peers: () => peers,
    log: (level, message) => logs.push({ level, message }),
  });
  live.push(sync);
  return { sync, state, transport, host, logs };
}

const FILTERS = [[{ equals: { name: 'x' } }]];
const room = (roomId = 'room1'): RoomDescriptor => ({ index: 'idx', collection: 'col', roomId, filters: FILTERS });
const envelope = (type: string, body: unknown, from = 'node-B'): Envelope => ({ v: 1, type, from, seq: 1, body });
const request = (): { data: Record<string, unknown>; options: Record<string, unknown> } => ({
  data: { index: 'idx', collection: 'col', _id: 'doc1' },
  options: { connection: { protocol: 'websocket' } },
});

afterEach(() => {
  for (const sync of live.splice(0)) sync.stop();
});

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

describe('RealtimeSync.subscribed', () => {
  it('first local subscriber: adds to Redis, sends room:add to every peer and waits for every reply', async () => {
    const { sync, state, transport, host } = setup();
    transport.defaultPolicy = 'manual';

    const first = track(sync.subscribed(room(), 'conn1'));
    await flush();

    assert.deepEqual(state.called('addSubscriber'), [['room1', NODE_ID]]);
    assert.equal(host.koncorde.has('room1'), true);
    assert.deepEqual(
      transport.requests.map(({ peer, type, body, timeoutMs }) => ({ peer, type, body, timeoutMs })),
      ['node-B', 'node-C'].map((peer) => ({
        peer,
        type: 'room:add',
        body: { index: 'idx', collection: 'col', roomId: 'room1', filters: FILTERS, version: 1 },
        timeoutMs: ACK_TIMEOUT_MS,
      })),
    );
    assert.equal(first.settled(), false, 'must wait for the acknowledgements');

    transport.ack('node-B');
    await flush();
    assert.equal(first.settled(), false, 'must wait for every peer, not the first one');

    transport.ack('node-C');
    await first.promise;
    assert.deepEqual(transport.published, [], 'a fully acknowledged room needs no broadcast');
    assert.equal(sync.hasLocalSubscribers('room1'), true);
  });

  it('with no peers: resolves at once after the Redis write, sends nothing', async () => {
    const { sync, state, transport, host } = setup([]);
    await sync.subscribed(room(), 'conn1');
    assert.equal(state.countOf('room1', NODE_ID), 1);
    assert.deepEqual(transport.requests, []);
    assert.deepEqual(transport.published, []);
    assert.equal(host.koncorde.has('room1'), true);
  });

  it('a second connection joining while acknowledgements are pending waits for them, then publishes room:count', async () => {
    const { sync, state, transport } = setup();
    transport.defaultPolicy = 'manual';

    const first = track(sync.subscribed(room(), 'conn1'));
    await flush();
    const second = track(sync.subscribed(room(), 'conn2'));
    await flush();

    assert.equal(first.settled(), false);
    assert.equal(second.settled(), false, 'the second subscriber must not be answered before the room is live');
    assert.equal(state.called('addSubscriber').length, 1, 'the second waits for the announcement before counting');

    transport.ack('node-B');
    transport.ack('node-C');
    await Promise.all([first.promise, second.promise]);

    assert.deepEqual(state.called('addSubscriber'), [
      ['room1', NODE_ID],
      ['room1', NODE_ID],
    ]);
    assert.equal(transport.requests.length, 2, 'one room:add per peer, no second announcement');
    assert.deepEqual(transport.published, [{ type: 'room:count', body: { index: 'idx', collection: 'col', roomId: 'room1', version: 2 } }]);
    assert.equal(state.countOf('room1', NODE_ID), 2);
  });

  it('the same connection subscribing twice is counted once', async () => {
    const { sync, state, transport } = setup();
    await sync.subscribed(room(), 'conn1');
    await sync.subscribed(room(), 'conn1');
    assert.equal(state.called('addSubscriber').length, 1);
    assert.equal(transport.requests.length, 2);
    assert.deepEqual(transport.published, []);
  });

  it('a peer that rejects or times out: still resolves, logs a warning, broadcasts state:rewritten', async () => {
    const { sync, transport, logs, host } = setup();
    transport.policies.set('node-C', new Error('request room:add to node-C timed out'));

    await sync.subscribed(room(), 'conn1');

    const warnings = logs.filter((entry) => entry.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.message ?? '', /room1/);
    assert.match(warnings[0]?.message ?? '', /timed out/);
    assert.deepEqual(transport.published, [{ type: 'state:rewritten', body: { collections: [{ index: 'idx', collection: 'col', version: 1 }] } }]);
    assert.equal(sync.hasLocalSubscribers('room1'), true);
    assert.equal(host.koncorde.has('room1'), true);
  });

  it('every peer failing: one warning per peer, a single state:rewritten', async () => {
    const { sync, transport, logs } = setup(['node-B', 'node-C', 'node-D']);
    transport.defaultPolicy = new Error('gone');
    await sync.subscribed(room(), 'conn1');
    assert.equal(logs.filter((entry) => entry.level === 'warn').length, 3);
    assert.deepEqual(transport.typesPublished(), ['state:rewritten']);
  });

  it('addSubscriber failing: rejects, forgets the local room, a later unsubscribed() does nothing', async () => {
    const { sync, state, transport } = setup();
    state.failNextAdd = new Error('redis down');

    await assert.rejects(sync.subscribed(room(), 'conn1'), /redis down/);
    assert.equal(sync.hasLocalSubscribers('room1'), false);
    assert.deepEqual(transport.requests, [], 'nothing announced for a room Redis does not hold');
    assert.deepEqual(transport.published, []);

    await sync.unsubscribed('room1', 'conn1');
    assert.deepEqual(state.called('removeSubscriber'), []);
    assert.deepEqual(transport.published, []);
  });

  it('a second subscriber whose addSubscriber fails is rolled back alone', async () => {
    const { sync, state, transport } = setup();
    await sync.subscribed(room(), 'conn1');
    state.failNextAdd = new Error('redis down');

    await assert.rejects(sync.subscribed(room(), 'conn2'), /redis down/);
    assert.equal(sync.hasLocalSubscribers('room1'), true, 'conn1 still holds the room');

    await sync.unsubscribed('room1', 'conn2');
    assert.deepEqual(state.called('removeSubscriber'), [], 'conn2 was never counted');
    assert.deepEqual(transport.published, []);
  });

  it('the first subscriber failing while a second waits: the second announces the room itself', async () => {
    const { sync, state, transport } = setup();
    const gate = deferred<void>();
    state.addGate = gate.promise;
    state.failNextAdd = new Error('redis down');

    const first = track(sync.subscribed(room(), 'conn1'));
    await flush();
    const second = track(sync.subscribed(room(), 'conn2'));
    await flush();

    assert.equal(second.settled(), false);
    gate.resolve();
    await assert.rejects(first.promise, /redis down/);
    await second.promise;

    assert.equal(sync.hasLocalSubscribers('room1'), true);
    assert.equal(state.countOf('room1', NODE_ID), 1);
    assert.deepEqual(
      transport.requests.map((r) => [r.peer, r.type]),
      [
        ['node-B', 'room:add'],
        ['node-C', 'room:add'],
      ],
    );
    assert.deepEqual(transport.published, []);
  });
});

describe('RealtimeSync.unsubscribed', () => {
  it('last local subscriber, Redis removes the room: filter dropped, room:remove published', async () => {
    const { sync, state, transport, host } = setup();
    await sync.subscribed(room(), 'conn1');

    await sync.unsubscribed('room1', 'conn1');

    assert.deepEqual(state.called('removeSubscriber'), [['idx', 'col', 'room1', NODE_ID]]);
    assert.deepEqual(host.removed, ['room1']);
    assert.equal(host.koncorde.has('room1'), false);
    assert.equal(sync.hasLocalSubscribers('room1'), false);
    assert.deepEqual(transport.published, [{ type: 'room:remove', body: { index: 'idx', collection: 'col', roomId: 'room1', version: 2 } }]);
  });

  it('last local subscriber, other nodes still subscribed: filter kept (stored again), room:count published', async () => {
    const { sync, state, transport, host } = setup();
    state.seed(room(), 'node-B', 1);
    await sync.subscribed(room(), 'conn1');
    const storesBefore = host.stored.length;
    // Kuzzle may have dropped the filter itself before the pipe ran.
    host.koncorde.delete('room1');

    await sync.unsubscribed('room1', 'conn1');

    assert.equal(host.stored.length, storesBefore + 1, 'storeFilter called again');
    assert.equal(host.stored.at(-1)?.roomId, 'room1');
    assert.deepEqual(host.koncorde.get('room1'), room());
    assert.deepEqual(host.removed, []);
    assert.deepEqual(transport.published, [{ type: 'room:count', body: { index: 'idx', collection: 'col', roomId: 'room1', version: 2 } }]);
  });

  it('not the last local subscriber: room:count, the room stays local, no extra storeFilter', async () => {
    const { sync, transport, host } = setup();
    await sync.subscribed(room(), 'conn1');
    await sync.subscribed(room(), 'conn2');
    const storesBefore = host.stored.length;
    transport.published.length = 0;

    await sync.unsubscribed('room1', 'conn1');

    assert.equal(sync.hasLocalSubscribers('room1'), true);
    assert.equal(host.stored.length, storesBefore);
    assert.deepEqual(host.removed, []);
    assert.deepEqual(transport.typesPublished(), ['room:count']);
  });

  it('an unknown connection or room does nothing', async () => {
    const { sync, state, transport } = setup();
    await sync.subscribed(room(), 'conn1');
    await sync.unsubscribed('room1', 'other');
    await sync.unsubscribed('nope', 'conn1');
    assert.deepEqual(state.called('removeSubscriber'), []);
    assert.deepEqual(transport.published, []);
  });
});

describe('RealtimeSync.mayDropFilter', () => {
  it('true when the Redis total equals the local count', async () => {
    const { sync } = setup();
    await sync.subscribed(room(), 'conn1');
    await sync.subscribed(room(), 'conn2');
    assert.equal(await sync.mayDropFilter('room1'), true);
  });

  it('false when other nodes have subscribers', async () => {
    const { sync, state } = setup();
    state.seed(room(), 'node-B', 2);
    await sync.subscribed(room(), 'conn1');
    assert.equal(await sync.mayDropFilter('room1'), false);
  });

  it('false for a room only other nodes hold; true for a room Redis does not know', async () => {
    const { sync, state } = setup();
    state.seed(room('remote'), 'node-B', 1);
    assert.equal(await sync.mayDropFilter('remote'), false);
    assert.equal(await sync.mayDropFilter('unknown'), true);
  });
});

describe('RealtimeSync.handleBroadcast', () => {
  const validDocument = (): Record<string, unknown> => ({
    rooms: ['room1', 'room2'],
    request: request(),
    scope: 'in',
    action: 'create',
    content: { _id: 'doc1' },
  });

  it('notify:document with a valid body is dispatched', async () => {
    const { sync, host } = setup();
    assert.equal(sync.handleBroadcast(envelope('notify:document', { ...validDocument(), jwt: 'secret' })), true);
    await flush();
    assert.deepEqual(host.documents, [validDocument()]);
    assert.equal(sync.dropped.malformed, 0);
  });

  it('notify:user with a valid body is dispatched', async () => {
    const { sync, host } = setup();
    const body = { room: 'room1', request: request(), scope: 'in', content: { count: 2 } };
    assert.equal(sync.handleBroadcast(envelope('notify:user', body)), true);
    await flush();
    assert.deepEqual(host.users, [body]);
  });

  it('a failing dispatch is logged, never thrown', async () => {
    const { sync, host, logs } = setup();
    host.dispatchError = new Error('boom');
    assert.equal(sync.handleBroadcast(envelope('notify:document', validDocument())), true);
    await flush();
    assert.ok(logs.some((entry) => entry.level === 'error' && /boom/.test(entry.message)));
  });

  it('malformed bodies are counted, dropped and never throw', () => {
    const { sync, host, logs } = setup();
    const bad: Array<[string, unknown]> = [
      ['notify:document', undefined],
      ['notify:document', null],
      ['notify:document', 'garbage'],
      ['notify:document', []],
      ['notify:document', { ...validDocument(), rooms: 'room1' }],
      ['notify:document', { ...validDocument(), rooms: [1] }],
      ['notify:document', { ...validDocument(), request: undefined }],
      ['notify:document', { ...validDocument(), request: { data: {} } }],
      ['notify:document', { ...validDocument(), scope: '' }],
      ['notify:document', { ...validDocument(), action: 42 }],
      ['notify:user', { room: 'room1', scope: 'in' }],
      ['room:count', { index: 'idx', collection: 'col', version: -1 }],
      ['room:count', { index: 'idx', collection: 'col', version: 1.5 }],
      ['room:remove', { index: 'idx', collection: 'col', version: 1 }],
      ['room:remove', { index: 'idx', collection: 'col', roomId: 7, version: 1 }],
      ['state:rewritten', { collections: 'idx' }],
      ['state:rewritten', { collections: [{ index: 'idx' }] }],
    ];
    for (const [type, body] of bad) {
      assert.doesNotThrow(() => assert.equal(sync.handleBroadcast(envelope(type, body)), true), `${type} ${JSON.stringify(body)}`);
    }
    assert.equal(sync.dropped.malformed, bad.length);
    assert.deepEqual(host.documents, []);
    assert.deepEqual(host.users, []);
    assert.equal(logs.filter((entry) => entry.level === 'debug').length, bad.length);
  });

  it('unknown types are not handled', () => {
    const { sync } = setup();
    assert.equal(sync.handleBroadcast(envelope('heartbeat', {})), false);
    assert.equal(sync.handleBroadcast(envelope('room:add', { index: 'idx' })), false);
    assert.equal(sync.dropped.malformed, 0);
  });

  it('room:count with a valid body is accepted', () => {
    const { sync } = setup();
    assert.equal(sync.handleBroadcast(envelope('room:count', { index: 'idx', collection: 'col', roomId: 'room1', version: 1 })), true);
    assert.equal(sync.dropped.malformed, 0);
  });
});

describe('RealtimeSync room:remove broadcast', () => {
  const removal = (version = 1): Envelope => envelope('room:remove', { index: 'idx', collection: 'col', roomId: 'room1', version });

  it('drops the filter when Redis does not know the room', async () => {
    const { sync, host, state } = setup();
    host.storeFilter(room());
    assert.equal(sync.handleBroadcast(removal()), true);
    await flush();
    assert.deepEqual(state.called('countRoom'), [['room1']]);
    assert.deepEqual(host.removed, ['room1']);
    assert.equal(host.koncorde.has('room1'), false);
  });

  it('keeps the filter when the room was created again meanwhile', async () => {
    const { sync, host, state } = setup();
    host.storeFilter(room());
    state.seed(room(), 'node-C', 1);
    sync.handleBroadcast(removal());
    await flush();
    assert.deepEqual(host.removed, []);
    assert.equal(host.koncorde.has('room1'), true);
  });

  it('keeps the filter while the room has local subscribers', async () => {
    const { sync, host, state } = setup();
    await sync.subscribed(room(), 'conn1');
    // Redis lost the room (e.g. flushed): only the local subscriber keeps the filter.
    state.rooms.delete('room1');
    sync.handleBroadcast(removal(2));
    await flush();
    assert.deepEqual(host.removed, []);
    assert.equal(host.koncorde.has('room1'), true);
  });
});

describe('RealtimeSync.handleRequest', () => {
  const addBody = (): Record<string, unknown> => ({ index: 'idx', collection: 'col', roomId: 'room1', filters: FILTERS, version: 1 });

  it('room:add stores the filter and replies', async () => {
    const { sync, host } = setup();
    const reply = sync.handleRequest(envelope('room:add', addBody()));
    assert.ok(reply);
    assert.deepEqual(await reply, { type: 'room:added', body: { roomId: 'room1' } });
    assert.deepEqual(host.koncorde.get('room1'), room());
    assert.equal(sync.dropped.malformed, 0);
  });

  it('a malformed room:add rejects, is counted and stores nothing', async () => {
    const { sync, host } = setup();
    const bodies: unknown[] = [
      null,
      'garbage',
      { ...addBody(), version: undefined },
      { ...addBody(), version: -3 },
      { ...addBody(), filters: undefined },
      { ...addBody(), filters: { equals: {} } },
      { ...addBody(), roomId: '' },
    ];
    for (const body of bodies) {
      const reply = sync.handleRequest(envelope('room:add', body));
      assert.ok(reply);
      await assert.rejects(reply, /malformed room:add/);
    }
    assert.equal(sync.dropped.malformed, bodies.length);
    assert.deepEqual(host.stored, []);
  });

  it('other request types are not handled', () => {
    const { sync } = setup();
    assert.equal(sync.handleRequest(envelope('ping', {})), undefined);
  });
});

describe('RealtimeSync.stop', () => {
  it('subscribed and unsubscribed do nothing and publish nothing after stop()', async () => {
    const { sync, state, transport, host } = setup();
    await sync.subscribed(room(), 'conn1');
    const callsBefore = state.calls.length;
    const requestsBefore = transport.requests.length;
    const storedBefore = host.stored.length;

    sync.stop();
    await sync.subscribed(room('room2'), 'conn2');
    await sync.subscribed(room(), 'conn3');
    await sync.unsubscribed('room1', 'conn1');

    assert.equal(state.calls.length, callsBefore);
    assert.equal(transport.requests.length, requestsBefore);
    assert.equal(host.stored.length, storedBefore);
    assert.equal(host.koncorde.has('room2'), false);
    assert.deepEqual(host.removed, []);
    assert.deepEqual(transport.published, []);
  });

  it('forwarded notifications are not published after stop()', async () => {
    const { sync, transport } = setup();
    sync.stop();
    await sync.forwardDocument({ rooms: ['room1'], request: request(), scope: 'in', action: 'create', content: {} });
    await sync.forwardUser({ room: 'room1', request: request(), scope: 'in', content: {} });
    assert.deepEqual(transport.published, []);
  });
});

describe('RealtimeSync once the subscriber is counted in Redis', () => {
  it('a failed broadcast after a failed acknowledgement does not undo the subscription half-way', async () => {
    const { sync, state, transport } = setup();
    transport.policies.set('node-C', new Error('timed out'));
    transport.publishError = new Error('send queue is closed');

    await sync.subscribed(room(), 'conn1');
    assert.equal(sync.hasLocalSubscribers('room1'), true);
    assert.equal(state.countOf('room1', NODE_ID), 1);
    transport.publishError = undefined;
    await sync.unsubscribed('room1', 'conn1');
    assert.equal(state.countOf('room1', NODE_ID), 0);
  });

  it('a failed room:count broadcast does not undo the second subscription half-way', async () => {
    const { sync, state, transport } = setup();
    await sync.subscribed(room(), 'conn1');
    transport.publishError = new Error('send queue is closed');

    await sync.subscribed(room(), 'conn2');
    assert.equal(state.countOf('room1', NODE_ID), 2);
    transport.publishError = undefined;
    await sync.unsubscribed('room1', 'conn2');
    assert.equal(state.countOf('room1', NODE_ID), 1);
  });
});
