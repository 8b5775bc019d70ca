import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ScopeOption, UserOption } from 'kuzzle-sdk';
import { waitFor } from '../harness/wait';
import { ensureCollection, portOf, Recorder, uniqueName, useStack, wsClient, wsClientsOnNodes } from './support/fixture';

interface DocNotification {
  type: string;
  action: string;
  scope: string;
  result: { _id: string; _source: Record<string, unknown> };
  volatile?: Record<string, unknown>;
}
interface UserNotification {
  type: string;
  user: string;
  result: { count: number };
}

describe('realtime across nodes', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('rt');
  const collection = 'items';
  let a: Kuzzle;
  let b: Kuzzle;
  let c: Kuzzle;

  before(async () => {
    [a, b, c] = await wsClientsOnNodes(stack(), 3);
    await ensureCollection(c, index, collection);
  });

  it('a subscriber on A gets every matching change made through B and C, exactly once', async () => {
    const recorder = new Recorder<DocNotification>();
    const roomId = await a.realtime.subscribe(index, collection, { equals: { color: 'red' } }, recorder.callback, { scope: ScopeOption.all });
    await b.document.create(index, collection, { color: 'red', n: 1 }, 'd1');
    await c.document.create(index, collection, { color: 'blue', n: 2 }, 'd2'); // no match
    await c.document.update(index, collection, 'd1', { n: 3 });
    await b.document.replace(index, collection, 'd1', { color: 'red', n: 4 });
    await c.document.mCreate(index, collection, [{ _id: 'm1', body: { color: 'red' } }, { _id: 'm2', body: { color: 'green' } }]);
    await b.document.delete(index, collection, 'd1');
    await c.document.mDelete(index, collection, ['m1', 'm2']);
    // d1: create, update, replace, delete; m1: create, delete (m2 and d2 never match)
    await recorder.waitCount(6);
    const seen = recorder.items.map((n) => `${n.action}:${n.result._id}`);
    assert.deepEqual(seen.sort(), ['create:d1', 'create:m1', 'delete:d1', 'delete:m1', 'replace:d1', 'update:d1'].sort());
    // A non-matching change after them: if it were delivered it would arrive before this marker.
    await c.document.create(index, collection, { color: 'blue' }, 'after');
    await c.document.create(index, collection, { color: 'red' }, 'marker');
    await recorder.waitCount(7);
    assert.equal(recorder.items.length, 7);
    assert.equal(recorder.items[6]?.result._id, 'marker');
    assert.equal(recorder.items[0]?.type, 'document');
    await a.realtime.unsubscribe(roomId);
  });

  it('a change travels only to the nodes listening to its collection: C, without a subscriber there, never receives it', async () => {
    interface Status {
      changes: { addressed: number };
      messages: { receivedByType: Record<string, number> };
    }
    const only = 'only-on-a';
    await ensureCollection(c, index, only);
    const recorder = new Recorder<DocNotification>();
    const roomId = await a.realtime.subscribe(index, only, { equals: { color: 'red' } }, recorder.callback);
    // A first change, so that B surely knows which collections A and C listen to.
    await b.document.create(index, only, { color: 'red' }, 'warmup');
    await recorder.waitCount(1);
    const atB = await stack().clusterStatus<Status>(2);
    const atC = await stack().clusterStatus<Status>(3);
    for (let i = 0; i < 5; i++) await b.document.create(index, only, { color: i % 2 === 0 ? 'red' : 'blue', i }, `only-${i}`);
    await b.realtime.publish(index, only, { color: 'red', kind: 'publish' });
    await recorder.waitCount(5);
    assert.deepEqual(recorder.items.map((n) => (n.action === 'publish' ? 'publish' : n.result._id)), ['warmup', 'only-0', 'only-2', 'only-4', 'publish'], 'each once, in order');
    const afterB = await stack().clusterStatus<Status>(2);
    const afterC = await stack().clusterStatus<Status>(3);
    assert.equal(afterB.changes.addressed - atB.changes.addressed, 6, 'B sent its 6 changes to A alone');
    assert.equal(afterC.messages.receivedByType['change:documents'] ?? 0, atC.messages.receivedByType['change:documents'] ?? 0, 'C received none of them');
    await a.realtime.unsubscribe(roomId);
  });

  it('realtime:publish through C reaches a subscriber on A with its volatile data', async () => {
    const recorder = new Recorder<DocNotification>();
    const roomId = await a.realtime.subscribe(index, collection, { equals: { kind: 'msg' } }, recorder.callback);
    await c.realtime.publish(index, collection, { kind: 'msg', text: 'hello' }, { volatile: { from: 'C' } } as never);
    await recorder.waitCount(1);
    assert.equal(recorder.items[0]?.action, 'publish');
    assert.equal(recorder.items[0]?.result._source.text, 'hello');
    assert.equal(recorder.items[0]?.volatile?.from, 'C');
    await a.realtime.unsubscribe(roomId);
  });

  it('user notifications: A sees clients entering and leaving the room on B', async () => {
    const users = new Recorder<UserNotification>();
    const filters = { equals: { topic: 'presence' } };
    const roomA = await a.realtime.subscribe(index, collection, filters, users.callback, { users: UserOption.all });
    const roomB = await b.realtime.subscribe(index, collection, filters, () => undefined);
    assert.equal(roomB, roomA, 'same filters, same room id on every node');
    await users.waitCount(1, 'user notifications');
    assert.equal(users.items[0]?.type, 'user');
    assert.equal(users.items[0]?.user, 'in');
    await b.realtime.unsubscribe(roomB);
    await users.waitCount(2, 'user notifications');
    assert.equal(users.items[1]?.user, 'out');
    await a.realtime.unsubscribe(roomA);
  });

  it('realtime:join with a room id created on another node, and cluster-wide count from any node', async () => {
    const recorder = new Recorder<DocNotification>();
    const roomId = await a.realtime.subscribe(index, collection, { equals: { joined: true } }, () => undefined);
    // A join Kuzzle refuses (its channel arguments) fails on a node without the room as on the node holding it, with Kuzzle's own error
    // (the unit test of RealtimeGlue checks that the room is not created on the way: nothing here can see Kuzzle's room list).
    const refusal = async (client: Kuzzle): Promise<unknown> => {
      const error = (await client.query({ controller: 'realtime', action: 'join', body: { roomId }, scope: 'bogus' }).then(() => undefined, (e: unknown) => e)) as { id?: string; code?: number; status?: number } | undefined;
      return error && { id: error.id, code: error.code, status: error.status };
    };
    const byKuzzle = await refusal(a);
    assert.deepEqual(byKuzzle, { id: 'core.realtime.invalid_scope', code: 65540, status: 400 });
    assert.deepEqual(await refusal(b), byKuzzle);
    const joined = (await b.query({ controller: 'realtime', action: 'join', body: { roomId } })) as { result: { roomId: string; channel: string } };
    assert.equal(joined.result.roomId, roomId);
    // Node 2 held no filter of that room: the join read it from Redis, and its client is notified of changes made elsewhere.
    const joinedRecorder = new Recorder<DocNotification>();
    b.protocol.on(joined.result.channel, joinedRecorder.callback);
    for (const client of [a, b, c]) {
      assert.equal(await client.realtime.count(roomId), 2);
    }
    // The joined client is notified like a subscriber.
    const roomC = await c.realtime.subscribe(index, collection, { equals: { joined: true } }, recorder.callback);
    assert.equal(roomC, roomId);
    // A subscription answers once it is counted cluster-wide: the next count sees it on every node.
    for (const client of [a, b, c]) assert.equal(await client.realtime.count(roomId), 3);
    await a.document.create(index, collection, { joined: true });
    await recorder.waitCount(1);
    await joinedRecorder.waitCount(1, 'the notification on the channel joined through node 2');
    assert.equal(joinedRecorder.items[0]?.type, 'document');
    await a.realtime.unsubscribe(roomId);
    await c.realtime.unsubscribe(roomC);
    for (const client of [a, b, c]) assert.equal(await client.realtime.count(roomId), 1);
  });

  it('realtime:list answers cluster-wide, and the last subscriber leaving removes the room everywhere', async () => {
    const roomId = await a.realtime.subscribe(index, collection, { equals: { listed: 1 } }, () => undefined);
    const extra = await wsClient(portOf(stack(), 2));
    await extra.realtime.subscribe(index, collection, { equals: { listed: 1 } }, () => undefined);
    const listOn = async (client: Kuzzle): Promise<Record<string, Record<string, Record<string, number>>>> =>
      ((await client.query({ controller: 'realtime', action: 'list' })) as { result: Record<string, Record<string, Record<string, number>>> }).result;
    for (const client of [a, b, c]) {
      assert.equal((await listOn(client))[index]?.[collection]?.[roomId], 2);
    }
    // One leaves by unsubscribing, the other by disconnecting.
    await a.realtime.unsubscribe(roomId);
    extra.disconnect();
    await waitFor('the room to be gone from every node', async () => {
      for (const client of [a, b, c]) if ((await listOn(client))[index]?.[collection]?.[roomId] !== undefined) return false;
      return true;
    });
    // A change now matches no room anywhere: nothing is delivered to a new subscriber on other filters.
    const recorder = new Recorder<DocNotification>();
    const other = await b.realtime.subscribe(index, collection, { equals: { listed: 2 } }, recorder.callback);
    await c.document.create(index, collection, { listed: 1 });
    await c.document.create(index, collection, { listed: 2 });
    await recorder.waitCount(1);
    assert.equal(recorder.items[0]?.result._source.listed, 2);
    await b.realtime.unsubscribe(other);
  });

  it('realtime:list only shows rooms of collections the caller may subscribe to', async () => {
    const hiddenIndex = uniqueName('rt-hidden');
    await ensureCollection(c, hiddenIndex, collection);
    const visible = await a.realtime.subscribe(index, collection, { equals: { rights: 1 } }, () => undefined);
    const hidden = await b.realtime.subscribe(hiddenIndex, collection, { equals: { rights: 1 } }, () => undefined);
    const name = uniqueName('lister');
    await a.security.createRole(name, {
      controllers: { realtime: { actions: { list: true, subscribe: true } }, auth: { actions: { '*': true } } },
    });
    await a.security.createProfile(name, { policies: [{ roleId: name, restrictedTo: [{ index }] }] });
    await a.security.createUser(name, {
      content: { profileIds: [name] },
      credentials: { local: { username: name, password: 'lister-password' } },
    });
    const user = await wsClient(portOf(stack(), 3));
    await user.auth.login('local', { username: name, password: 'lister-password' });
    const list = ((await user.query({ controller: 'realtime', action: 'list' })) as { result: Record<string, Record<string, Record<string, number>>> }).result;
    assert.equal(list[index]?.[collection]?.[visible], 1);
    assert.equal(list[hiddenIndex], undefined, 'rooms of a forbidden index are not listed');
    // Anonymous (all rights in this test setup) sees both, through another node.
    const all = ((await b.query({ controller: 'realtime', action: 'list' })) as { result: Record<string, Record<string, Record<string, number>>> }).result;
    assert.equal(all[hiddenIndex]?.[collection]?.[hidden], 1);
    await a.realtime.unsubscribe(visible);
    await b.realtime.unsubscribe(hidden);
  });
});
