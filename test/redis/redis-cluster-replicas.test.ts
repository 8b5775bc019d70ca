import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { clusterPrefix, StateKeys } from '../../src/state/keys';
import { assertNoGhost, healthOf, statusOf, waitCounts } from '../faults/support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber, subscribersOn } from '../faults/support/numbered-stream';
import { ensureCollection, portOf, Recorder, uniqueName, useStack, wsClient, wsClientsOnNodes } from '../functional/support/fixture';
import { freePort } from '../harness/ports';
import { throwawayPassword } from '../harness/redis-modes';
import type { Stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { SubscriptionChurn } from './support/churn';

const keys = new StateKeys(clusterPrefix('kuzzle'));
/** Redis' own default: the failover measured is the one users get without tuning. */
const NODE_TIMEOUT_MS = 15_000;
const COLLECTIONS = Array.from({ length: 12 }, (_, i) => `c${i}`);

/** Redis status of every node, as `GET /_plugin/cluster/status` shows it. */
interface RedisStatus {
  redis: { degradedSince?: number; periods: number; lastPeriodMs?: number; longestPeriodMs: number; retried: number; gaveUp: number; unreachableBoundMs: number };
}

async function redisStatus(stack: Stack, node: number): Promise<RedisStatus['redis']> {
  return (await stack.clusterStatus<RedisStatus>(node)).redis;
}

/**
 * The plugin on a production-shaped Redis Cluster: 3 masters with one
 * replica each, a password, Redis' default `cluster-node-timeout` (15 s),
 * given through `plugins.cluster.redis`
 * (Kuzzle's own internalCache stays on a standalone Redis). Rooms spread
 * over many collections, so over many slots and every master; a master
 * killed under load fails over to its replica with nothing lost.
 */
describe('the plugin on a Redis Cluster with replicas and a password', () => {
  const stack = useStack({ nodes: 3, pluginRedisCluster: { replicas: 1, auth: { password: throwawayPassword() }, nodeTimeoutMs: NODE_TIMEOUT_MS } });
  const index = uniqueName('rc');
  let clients: Kuzzle[] = [];
  /** The stream's collection: on another master than the index's slot, which every subscription writes to. */
  let streamCollection = 'stream';

  before(async () => {
    clients = await wsClientsOnNodes(stack(), 3);
    const cluster = stack().redisCluster;
    assert.ok(cluster);
    const indexMaster = (await cluster.masterOf(keys.roomIndex)).port;
    for (let i = 1; (await cluster.masterOf(keys.collection(index, streamCollection).rooms)).port === indexMaster; i++) streamCollection = `stream${i}`;
    await ensureCollection(clients[0] as Kuzzle, index, streamCollection);
    for (const collection of COLLECTIONS) await ensureCollection(clients[0] as Kuzzle, index, collection);
  });

  it('nodes find each other; notifications and counts across nodes, over collections on every master', async () => {
    for (let n = 1; n <= 3; n++) assert.equal((await statusOf(stack(), n)).members, 3);
    const masters = new Set<number>();
    for (const collection of COLLECTIONS) masters.add((await stack().redisCluster?.masterOf(keys.collection(index, collection).rooms))?.port ?? 0);
    assert.equal(masters.size, 3, 'the collections land on all 3 masters');
    const recorder = new Recorder();
    const rooms: string[] = [];
    const [a, , c] = clients as [Kuzzle, Kuzzle, Kuzzle];
    for (const collection of COLLECTIONS) rooms.push(await a.realtime.subscribe(index, collection, { equals: { i: 1 } }, recorder.callback));
    for (const collection of COLLECTIONS) await c.realtime.publish(index, collection, { i: 1 });
    await recorder.waitCount(COLLECTIONS.length);
    for (const room of rooms) assert.equal(await c.realtime.count(room), 1);
    for (const room of rooms) await a.realtime.unsubscribe(room);
    for (const room of rooms) await waitFor(`room ${room} gone everywhere`, async () => (await c.realtime.count(room).catch(() => 0)) === 0);
  });

  it('a master killed (-9) under load: its replica takes over, subscriptions wait instead of failing, nothing lost, counts and keys right', { timeout: 180_000 }, async () => {
    const publisher = await wsClient(portOf(stack(), 1));
    const stream = new NumberedStream(publisher, index, streamCollection, uniqueName('stream'));
    const subscribers: StreamSubscriber[] = await subscribersOn(stack(), stream);
    const subscriberClients = subscribers.map((s) => s.client);
    const roomId = subscribers[0]?.roomId ?? '';
    const churn = new SubscriptionChurn(await wsClientsOnNodes(stack(), 3), index, COLLECTIONS);
    stream.start();
    churn.start();
    const watch = watchHealth(stack());
    // Whatever fails below, the loops stop (a churn left running against a stopped stack would spin).
    const stopLoads = async (): Promise<Set<number>> => {
      await churn.stop();
      return watch.stop();
    };
    let health: Set<number>;
    let redisFailoverMs = 0;
    let lateMs: number[] = [];
    let elsewhereMs: number[] = [];
    let late: StreamSubscriber[] = [];
    try {
      await waitCounts(subscriberClients, roomId, 3);
      await waitFor('the stream and the churn running', () => stream.position > 100 && churn.subscribed > 10);

      // The master of the stream's collection: its rooms, counts and owners fail over.
      const cluster = stack().redisCluster;
      assert.ok(cluster);
      const victim = await cluster.masterOf(keys.collection(index, streamCollection).rooms);
      let elsewhere: string | undefined;
      for (const collection of COLLECTIONS) if (!elsewhere && (await cluster.masterOf(keys.collection(index, collection).rooms)).port !== victim.port) elsewhere = collection;
      assert.ok(elsewhere);
      const elsewhereClients = await wsClientsOnNodes(stack(), 3);
      const killedAt = Date.now();
      victim.process.signal('SIGKILL');
      await victim.process.waitExit();
      // New subscribers of the stream, whose slot just lost its master: they wait, then get every message from then on.
      late = await Promise.all([1, 2, 3].map(async (n) => new StreamSubscriber(`late on ${n}`, await wsClient(portOf(stack(), n)))));
      let lateSettled = false;
      const lateSubscribed = Promise.all(late.map(async (s) => {
        await s.subscribe(stream);
        return Date.now() - killedAt;
      })).finally(() => (lateSettled = true));
      // Meanwhile, on every node, subscriptions to a collection of a live master answer: what waits on the dead master (these nodes' batches hold stream and churn subscriptions there) holds back only its own collections.
      elsewhereMs = await Promise.all(elsewhereClients.map(async (client) => {
        await client.realtime.subscribe(index, elsewhere as string, { equals: { elsewhere: true } }, () => undefined);
        return Date.now() - killedAt;
      }));
      assert.equal(lateSettled, false, 'subscriptions on live masters answered while those on the failed master still waited');
      for (const client of elsewhereClients) client.disconnect();
      await cluster.waitServing(60_000);
      redisFailoverMs = Date.now() - killedAt;
      lateMs = await lateSubscribed;
      const before = churn.subscribed;
      await waitFor('30 more subscriptions after the failover', () => churn.subscribed > before + 30, { timeoutMs: 30_000 });
      await waitFor('every node out of its degraded period', async () => {
        for (let n = 1; n <= 3; n++) if ((await redisStatus(stack(), n)).degradedSince !== undefined) return false;
        return true;
      }, { timeoutMs: 30_000, intervalMs: 200 });
    } finally {
      health = await stopLoads();
      // The stream goes on for the checks below unless the test already failed.
      if (redisFailoverMs === 0 || lateMs.length === 0) await stream.stop();
    }

    const statuses = await Promise.all([1, 2, 3].map((n) => redisStatus(stack(), n)));
    const degradedMs = Math.max(...statuses.map((s) => s.longestPeriodMs));
    console.log(
      `# failover: Redis Cluster served every slot again ${redisFailoverMs} ms after the kill (cluster-node-timeout ${NODE_TIMEOUT_MS} ms); ` +
        `the plugin's longest degraded period ${degradedMs} ms (per node: ${statuses.map((s) => `${s.longestPeriodMs} ms, ${s.retried} retried`).join('; ')}); ` +
        `slowest churn subscription ${churn.maxSubscribeMs} ms, ${churn.subscribed} in all; stream subscriptions made right after the kill answered after ${lateMs.join(', ')} ms, those to a live master's collection after ${elsewhereMs.join(', ')} ms; ` +
        `health codes seen: ${[...health].join(', ')}`,
    );
    assert.deepEqual(churn.failures, [], 'no subscription nor unsubscription failed');
    assert.ok(statuses.some((s) => s.periods >= 1 && s.retried >= 1), 'the failover shows in status as a degraded period');
    assert.ok(statuses.every((s) => s.gaveUp === 0), 'no operation gave up');
    if (degradedMs < (statuses[0]?.unreachableBoundMs ?? 0)) assert.deepEqual([...health], [200], 'health stays 200 through a failover shorter than the bound');

    await waitCounts(subscriberClients, roomId, 6, 20_000);
    await assertNoChurnLeftovers(stack(), index);
    await assertNoGhost(stack(), [1, 2, 3]);
    const from = stream.position;
    await waitFor('100 more messages after the failover', () => stream.position > from + 100);
    await stream.stop();
    assert.equal(stream.failed.size, 0, 'no publish failed');
    await assertNoLoss(stream, [...subscribers, ...late]);
  });

  it('a wrong password: the node refuses to start, naming the Redis address and the failure, never the password', { timeout: 120_000 }, async () => {
    const cluster = stack().redisCluster;
    assert.ok(cluster);
    const wrong = `wrong-${throwawayPassword()}`;
    const node = await stack().createNodeWith({ redis: { nodes: cluster.nodes, options: { password: wrong } } });
    node.start();
    await waitFor('the node to exit', () => !node.alive, { timeoutMs: 90_000 });
    const log = node.logTail(300);
    assert.match(node.process?.describeExit() ?? '', /exited with code [1-9]/);
    assert.match(log, new RegExp(`cannot use Redis Cluster 127\\.0\\.0\\.1:${cluster.nodes[0]?.port}`));
    assert.match(log, /WRONGPASS|NOAUTH|invalid password/i);
    assert.ok(!log.includes(wrong), 'the password is not in the log');
  });

  it('an unreachable Redis: the node refuses to start once timers.redisConnect is over, naming the address', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const node = await stack().createNodeWith({ redis: { node: { host: '127.0.0.1', port } }, timers: { redisConnect: 2000 } });
    node.start();
    await waitFor('the node to exit', () => !node.alive, { timeoutMs: 90_000 });
    assert.match(node.process?.describeExit() ?? '', /exited with code [1-9]/);
    assert.match(node.logTail(300), new RegExp(`cannot use Redis 127\\.0\\.0\\.1:${port}: no answer within 2000 ms.*ECONNREFUSED`));
  });
});

/** Health codes of every node, polled until stopped. */
function watchHealth(stack: Stack): { stop(): Promise<Set<number>> } {
  const codes = new Set<number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (let n = 1; n <= 3; n++) codes.add(await healthOf(stack, n).catch(() => 0));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return codes;
    },
  };
}

/** Every churn subscription was removed: its collections hold no room, count or owner in Redis. */
async function assertNoChurnLeftovers(stack: Stack, index: string): Promise<void> {
  const redis = stack.stateRedis();
  try {
    await waitFor('no room, count or owner left in the churned collections', async () => {
      const left: string[] = [];
      for (const collection of COLLECTIONS) {
        const k = keys.collection(index, collection);
        const sizes = await Promise.all([redis.hlen(k.rooms), redis.hlen(k.counts), redis.hlen(k.owners)]);
        if (sizes.some((size) => size > 0)) left.push(`${collection}: ${sizes.join('/')}`);
      }
      if (left.length === 0) return true;
      throw new Error(`left (rooms/counts/owners): ${left.join(', ')}`);
    }, { timeoutMs: 20_000, intervalMs: 500 });
  } finally {
    redis.disconnect();
  }
}
