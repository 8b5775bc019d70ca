import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Http, Kuzzle, WebSocket } from 'kuzzle-sdk';
import { ScopeOption, UserOption } from 'kuzzle-sdk';
import { Stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { closeForGood, ensureCollection, portOf, uniqueName, useStack, wsClient } from './support/fixture';


type Notification = Record<string, unknown>;

/**
 * Who acts, and on which node of the 5-node cluster (all on the single node
 * otherwise): most nodes hold none of the room's subscribers (nodes 2 and
 * 4 never do, node 5 only from the second-to-last steps), so changes made
 * through them reach the subscribers only through the peers' own filters.
 */
const PLACEMENT = { subscriber: 1, other: 3, joiner: 3, actor: 2, httpActor: 4, userActor: 5 } as const;
const CLUSTER_NODES = 5;
type Role = keyof typeof PLACEMENT;

interface Run {
  index: string;
  clients: Record<Role, Kuzzle>;
  received: Notification[];
}

/** A step of the script: an action, then a marker from the same client so that the subscriber knows the step is over. */
interface Step {
  name: string;
  by: Role;
  act(run: Run, collection: string): Promise<unknown>;
}

const collection = 'parity';
const red = (extra: Record<string, unknown> = {}) => ({ color: 'red', ...extra });
const filter = { equals: { color: 'red' } };

const STEPS: Step[] = [
  { name: 'another client subscribes', by: 'other', act: (r) => r.clients.other.realtime.subscribe(r.index, collection, filter, () => undefined, { users: UserOption.all }) },
  { name: 'a client joins the room by id', by: 'joiner', act: (r) => r.clients.joiner.query({ controller: 'realtime', action: 'join', body: { roomId: roomOf(r) } }) },
  { name: 'create', by: 'actor', act: (r) => r.clients.actor.document.create(r.index, collection, red({ n: 1 }), 'd1') },
  { name: 'replace', by: 'actor', act: (r) => r.clients.actor.document.createOrReplace(r.index, collection, 'd1', red({ n: 2 })) },
  { name: 'update', by: 'actor', act: (r) => r.clients.actor.document.update(r.index, collection, 'd1', { n: 3 }) },
  { name: 'upsert', by: 'actor', act: (r) => r.clients.actor.document.upsert(r.index, collection, 'd2', red({ n: 4 })) },
  { name: 'scope out', by: 'actor', act: (r) => r.clients.actor.document.update(r.index, collection, 'd1', { color: 'blue' }) },
  { name: 'scope in', by: 'actor', act: (r) => r.clients.actor.document.update(r.index, collection, 'd1', { color: 'red' }) },
  { name: 'deleteFields', by: 'actor', act: (r) => r.clients.actor.query({ controller: 'document', action: 'deleteFields', index: r.index, collection, _id: 'd1', body: { fields: ['n'] } }) },
  { name: 'HTTP actor with volatile', by: 'httpActor', act: (r) => r.clients.httpActor.document.create(r.index, collection, red(), 'd3', { volatile: { via: 'http' } } as never) },
  { name: 'authenticated actor', by: 'userActor', act: (r) => r.clients.userActor.document.create(r.index, collection, red(), 'd4') },
  { name: 'mCreate', by: 'actor', act: (r) => r.clients.actor.document.mCreate(r.index, collection, [{ _id: 'm1', body: red() }, { _id: 'm2', body: { color: 'green' } }]) },
  { name: 'mUpdate', by: 'actor', act: (r) => r.clients.actor.document.mUpdate(r.index, collection, [{ _id: 'm1', body: { x: 1 } }]) },
  { name: 'mReplace', by: 'actor', act: (r) => r.clients.actor.document.mReplace(r.index, collection, [{ _id: 'm1', body: red({ y: 2 }) }]) },
  { name: 'mDelete', by: 'actor', act: (r) => r.clients.actor.document.mDelete(r.index, collection, ['m1', 'm2']) },
  { name: 'updateByQuery', by: 'actor', act: (r) => r.clients.actor.document.updateByQuery(r.index, collection, { match: { color: 'red' } }, { tag: 'q' }, { refresh: 'wait_for' }) },
  { name: 'delete', by: 'actor', act: (r) => r.clients.actor.document.delete(r.index, collection, 'd2', { refresh: 'wait_for' }) },
  { name: 'deleteByQuery', by: 'actor', act: (r) => r.clients.actor.document.deleteByQuery(r.index, collection, { query: { match: { color: 'red' } } }, { refresh: 'wait_for' }) },
  { name: 'publish with volatile', by: 'actor', act: (r) => r.clients.actor.realtime.publish(r.index, collection, red({ message: 'hello' }), { volatile: { mood: 'happy' } } as never) },
  { name: 'an authenticated user subscribes', by: 'userActor', act: (r) => r.clients.userActor.realtime.subscribe(r.index, collection, filter, () => undefined) },
  { name: 'it logs out', by: 'userActor', act: (r) => r.clients.userActor.auth.logout() },
  { name: 'another client unsubscribes', by: 'other', act: async (r) => r.clients.other.realtime.unsubscribe(roomOf(r)) },
];

/** The room everyone uses (same filters): the id the subscriber got. */
const rooms = new WeakMap<Run, string>();
const roomOf = (run: Run): string => rooms.get(run) ?? '';

/** Drops what legitimately differs between two runs: times, ids, node names, SDK instance ids, index names. */
function normalise(notification: Notification, index: string): unknown {
  return JSON.parse(
    JSON.stringify(notification, (key, value: unknown) => {
      if (['timestamp', 'requestId', 'node', 'room', 'createdAt', 'updatedAt', 'sdkInstanceId', 'channel'].includes(key)) return '<varies>';
      if (typeof value === 'string' && value === index) return '<index>';
      return value;
    }),
  ) as unknown;
}

async function run(stack: Stack, userName: string): Promise<{ received: Notification[]; index: string }> {
  const index = uniqueName('parity');
  const port = (role: Role): number => stack.node(Math.min(PLACEMENT[role], stack.nodes.length)).settings.ports.http;
  const ws = async (role: Role): Promise<Kuzzle> => {
    const client = new Kuzzle(new WebSocket('127.0.0.1', { port: port(role) }), { autoResubscribe: false });
    await client.connect();
    return client;
  };
  const httpActor = new Kuzzle(new Http('127.0.0.1', { port: port('httpActor') }));
  await httpActor.connect();
  const clients: Record<Role, Kuzzle> = {
    subscriber: await ws('subscriber'),
    other: await ws('other'),
    joiner: await ws('joiner'),
    actor: await ws('actor'),
    httpActor,
    userActor: await ws('userActor'),
  };
  const received: Notification[] = [];
  const runState: Run = { index, clients, received };
  try {
    await clients.actor.index.create(index);
    await clients.actor.collection.create(index, collection, {});
    // The same user in both runs (it may exist already: both runs share one Elasticsearch).
    await clients.actor.security
      .createUser(userName, { content: { profileIds: ['default'] }, credentials: { local: { username: userName, password: 'parity-password' } } })
      .catch(() => undefined);
    await clients.userActor.auth.login('local', { username: userName, password: 'parity-password' });
    rooms.set(
      runState,
      await clients.subscriber.realtime.subscribe(index, collection, filter, (n: unknown) => void received.push(n as Notification), {
        scope: ScopeOption.all,
        users: UserOption.all,
      }),
    );
    for (const [i, step] of STEPS.entries()) {
      await step.act(runState, collection);
      // A marker from the same client travels behind what the step caused.
      const client = step.by === 'userActor' && step.name === 'it logs out' ? clients.actor : clients[step.by];
      await client.realtime.publish(index, collection, red({ marker: i }));
      await waitFor(`the marker of step "${step.name}"`, () =>
        received.some((n) => (n.result as { _source?: { marker?: number } } | undefined)?._source?.marker === i),
      );
    }
    return { received, index };
  } finally {
    for (const client of Object.values(clients)) closeForGood(client);
  }
}

/**
 * The same script of actions, once on one Kuzzle node without the plugin
 * and once on a 5-node cluster with the subscriber, the actors and the
 * other clients on different nodes: the subscriber gets the same
 * notifications, field by field, in the same order (only times, request
 * ids, node names and index names normalised) — counts of user
 * notifications included.
 */
describe('parity with one Kuzzle', () => {
  const stacks: Stack[] = [];
  after(async () => {
    for (const stack of stacks) await stack.stop();
  });

  it('the cluster sends exactly the notifications one Kuzzle sends', { timeout: 600_000 }, async () => {
    const single = await Stack.start({ nodes: 1, plugin: false, log: (m) => console.log(`# [single] ${m}`) });
    stacks.push(single);
    const expected = await run(single, 'kpc-parity-user');
    await single.stop();
    const cluster = await Stack.start({ nodes: CLUSTER_NODES, log: (m) => console.log(`# [cluster] ${m}`) });
    stacks.push(cluster);
    const actual = await run(cluster, 'kpc-parity-user');
    const a = expected.received.map((n) => normalise(n, expected.index));
    const b = actual.received.map((n) => normalise(n, actual.index));
    assert.ok(a.length > STEPS.length, `the single node sent ${a.length} notifications`);
    // Both sequences, for a reader of a failure.
    writeFileSync(join(cluster.runDir, 'parity-single.json'), JSON.stringify(a, null, 2));
    writeFileSync(join(cluster.runDir, 'parity-cluster.json'), JSON.stringify(b, null, 2));
    assert.deepEqual(b, a);
  });
});

/**
 * The ordering guarantee of user notification counts: each subscription or
 * unsubscription is counted in the shared state at the moment its node
 * handles it, atomically, so that concurrent events on several nodes get
 * distinct counts, in the order the shared state applied them — as one
 * Kuzzle numbers them in the order it handles them.
 */
describe('user notification counts under concurrent subscriptions on several nodes', () => {
  const stack = useStack({ nodes: 3 });

  it('each event gets its own count: 2..7 when six clients enter at once, 6..1 when they leave', { timeout: 120_000 }, async () => {
    const index = uniqueName('counts');
    const watcher = await wsClient(portOf(stack(), 1));
    await ensureCollection(watcher, index, 'c');
    const seen: Array<{ user: string; count: number }> = [];
    const roomId = await watcher.realtime.subscribe(index, 'c', { equals: { x: 1 } }, (n: unknown) => {
      const notification = n as { type?: string; user?: string; result?: { count?: number } };
      if (notification.type === 'user') seen.push({ user: notification.user ?? '', count: notification.result?.count ?? -1 });
    }, { users: UserOption.all });
    const clients = await Promise.all([1, 1, 2, 2, 3, 3].map((node) => wsClient(portOf(stack(), node))));
    await Promise.all(clients.map((client) => client.realtime.subscribe(index, 'c', { equals: { x: 1 } }, () => undefined)));
    await waitFor('six "in" notifications', () => seen.length === 6);
    assert.deepEqual(seen.map((s) => s.count).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7], JSON.stringify(seen));
    for (const node of [1, 2, 3]) assert.equal(await (await wsClient(portOf(stack(), node))).realtime.count(roomId), 7);
    seen.length = 0;
    await Promise.all(clients.map((client) => client.realtime.unsubscribe(roomId)));
    await waitFor('six "out" notifications', () => seen.length === 6);
    assert.deepEqual(seen.map((s) => s.count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6], JSON.stringify(seen));
  });
});
