import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { waitFor } from '../harness/wait';
import { ensureCollection, httpClient, httpJson, portOf, Recorder, uniqueName, useStack, wsClient } from './support/fixture';

type RoomList = Record<string, Record<string, Record<string, number>>>;

const SUBSCRIPTIONS_PER_NODE = 1000;

describe('joining, leaving, crashing, health and reset', () => {
  // No periodic anti-entropy pass: the reset test removes the shared state
  // and must find it gone, not already rewritten by a pass in between (no
  // other test here relies on one: a crash is purged by its eviction).
  const stack = useStack({ nodes: 2, clusterOptions: { minimumNodes: 3, timers: { heartbeat: 250, heartbeatTimeout: 1500, antiEntropy: 3_600_000 } } });
  const index = uniqueName('life');
  const collection = 'c';
  const roomsByNode = new Map<number, string[]>();

  const url = (node: number, path: string): string => `http://127.0.0.1:${portOf(stack(), node)}${path}`;
  const list = async (client: Kuzzle): Promise<Record<string, number>> =>
    ((await client.query({ controller: 'realtime', action: 'list' })) as { result: RoomList }).result[index]?.[collection] ?? {};

  before(async () => {
    const first = await wsClient(portOf(stack(), 1));
    await ensureCollection(first, index, collection);
  });

  it('health is 503 while fewer than minimumNodes nodes are up', async () => {
    for (const node of [1, 2]) {
      const { status } = await httpJson(url(node, '/_plugin/cluster/health'));
      assert.equal(status, 503);
    }
  });

  it(`${2 * SUBSCRIPTIONS_PER_NODE} subscriptions on two nodes`, { timeout: 300_000 }, async () => {
    for (const node of [1, 2]) {
      const client = await wsClient(portOf(stack(), node));
      const rooms: string[] = [];
      for (let start = 0; start < SUBSCRIPTIONS_PER_NODE; start += 50) {
        const batch = Array.from({ length: 50 }, (_, i) =>
          client.realtime.subscribe(index, collection, { equals: { key: `${node}-${start + i}` } }, () => undefined),
        );
        rooms.push(...(await Promise.all(batch)));
      }
      roomsByNode.set(node, rooms);
    }
  });

  it('a third node joins with the full state, health turns 200, it counts and notifies', { timeout: 300_000 }, async () => {
    const third = await stack().addNode();
    for (const node of [1, 2, 3]) {
      await waitFor(`health 200 on node ${node}`, async () => (await httpJson(url(node, '/_plugin/cluster/health'))).status === 200);
    }
    assert.equal((await stack().clusterStatus<{ members: number }>(3)).members, 3);
    const client = await wsClient(third.settings.ports.http);
    const rooms = await list(client);
    assert.equal(Object.keys(rooms).length, 2 * SUBSCRIPTIONS_PER_NODE);
    const sample = roomsByNode.get(1)?.[17] ?? '';
    assert.equal(await client.realtime.count(sample), 1);
    // A subscriber on node 1 is notified of a change made through the new node.
    const watcher = await wsClient(portOf(stack(), 1));
    const recorder = new Recorder();
    const shared = await watcher.realtime.subscribe(index, collection, { equals: { key: '2-999' } }, recorder.callback);
    await client.realtime.publish(index, collection, { key: '1-5' });
    await client.realtime.publish(index, collection, { key: '2-999' });
    await recorder.waitCount(1);
    await watcher.realtime.unsubscribe(shared);
  });

  it('a graceful stop (SIGTERM) removes the node and its subscriptions everywhere', { timeout: 120_000 }, async () => {
    await stack().node(2).stop();
    const client = await httpClient(portOf(stack(), 1));
    await waitFor('node 2 gone from the status of node 1', async () => {
      return (await stack().clusterStatus<{ members: number }>(1)).members === 2;
    }, { timeoutMs: 5000 });
    await waitFor('node 2 subscriptions gone', async () => {
      const rooms = await list(client);
      return (roomsByNode.get(2) ?? []).every((roomId) => rooms[roomId] === undefined);
    }, { timeoutMs: 5000 });
    const rooms = await list(client);
    assert.ok((roomsByNode.get(1) ?? []).every((roomId) => rooms[roomId] === 1));
  });

  it('a crash (kill -9) is noticed and its subscriptions purged: no ghost subscription', { timeout: 120_000 }, async () => {
    const third = stack().node(3);
    const victim = await wsClient(third.settings.ports.http);
    const ghostRoom = await victim.realtime.subscribe(index, collection, { equals: { ghost: true } }, () => undefined);
    const survivor = await httpClient(portOf(stack(), 1));
    await waitFor('the room visible from node 1', async () => (await list(survivor))[ghostRoom] === 1);
    await third.kill();
    await waitFor('the crashed node purged', async () => (await list(survivor))[ghostRoom] === undefined, { timeoutMs: 10_000 });
    assert.equal((await stack().clusterStatus<{ members: number }>(1)).members, 1);
  });

  it('reset rebuilds the shared state from the live subscriptions after Redis lost it', { timeout: 120_000 }, async () => {
    const redisPort = String(stack().redis?.port);
    const keys = execFileSync('redis-cli', ['-p', redisPort, '--scan', '--pattern', 'kpc:*']).toString().split('\n').filter((k) => k && !k.includes(':nodes}'));
    assert.ok(keys.length > 0);
    execFileSync('redis-cli', ['-p', redisPort, 'DEL', ...keys]);
    const client = await httpClient(portOf(stack(), 1));
    assert.deepEqual(await list(client), {});
    const { status, body } = await httpJson(url(1, '/_plugin/cluster/reset'), {
      method: 'POST',
      headers: { authorization: `Bearer ${await stack().adminToken()}` },
    });
    assert.equal(status, 200);
    const result = body.result as { nodes: Array<{ rooms: number }> };
    assert.ok(result.nodes[0] && result.nodes[0].rooms >= SUBSCRIPTIONS_PER_NODE);
    const rooms = await list(client);
    assert.ok((roomsByNode.get(1) ?? []).every((roomId) => rooms[roomId] === 1));
  });

  it('anonymous users may call health only: status and reset answer 401', async () => {
    // Answered (503 here: one node was killed above, and minimumNodes is 3), not refused.
    assert.equal((await httpJson(url(1, '/_plugin/cluster/health'))).status, 503);
    assert.equal((await httpJson(url(1, '/_plugin/cluster/status'))).status, 401);
    assert.equal((await httpJson(url(1, '/_plugin/cluster/reset'), { method: 'POST' })).status, 401);
  });

  it('reset is refused to a user whose rights do not allow it', async () => {
    const admin = await httpClient(portOf(stack(), 1));
    const name = uniqueName('noreset');
    await admin.security.createRole(name, { controllers: { auth: { actions: { '*': true } }, server: { actions: { '*': true } } } });
    await admin.security.createProfile(name, { policies: [{ roleId: name }] });
    await admin.security.createUser(name, {
      content: { profileIds: [name] },
      credentials: { local: { username: name, password: 'a-password' } },
    });
    const user = await httpClient(portOf(stack(), 1));
    const jwt = await user.auth.login('local', { username: name, password: 'a-password' });
    const { status } = await httpJson(url(1, '/_plugin/cluster/reset'), { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(status, 403);
  });
});
