import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { clusterPrefix, StateKeys } from '../../src/state/keys';
import { ADMIN } from '../harness/admin';
import { waitFor } from '../harness/wait';
import { ensureCollection, fixtureAction, portOf, Recorder, uniqueName, useFixturePlugin, useStack, wsClient } from './support/fixture';

interface GuardStatus {
  memoryStorage: { sharesRedis: string; guarded: boolean; refused: number; hidden: number };
}

/** An administrator's client (every right, `ms:*` included) on one node, over WebSocket (over HTTP, `ms:keys *` loses its pattern in the URL). */
async function adminOn(port: number): Promise<Kuzzle> {
  const kuzzle = await wsClient(port);
  await kuzzle.auth.login('local', ADMIN);
  return kuzzle;
}

/** The error status of a refused call, or 'answered'. */
async function statusOf(call: Promise<unknown>): Promise<number | 'answered'> {
  try {
    await call;
    return 'answered';
  } catch (error) {
    return (error as { status?: number }).status ?? -1;
  }
}

// The redis tier reruns this file with everything on one Redis Cluster (KPC_STACK_REDIS).
const onRedisCluster = Boolean(process.env.KPC_STACK_REDIS);

describe('Kuzzle\'s memoryStorage on the Redis database of the plugin\'s state', () => {
  useFixturePlugin();
  const stack = useStack({ nodes: 2, memoryStorageSharesState: true });
  const keys = new StateKeys(clusterPrefix('kuzzle'));

  it('keeps the plugin\'s keys out of reach of ms:* users, even an administrator\'s, and of other plugins\' sdk.ms, and serves their own keys as one Kuzzle does', async () => {
    await stack().adminToken();
    const admin = await adminOn(portOf(stack(), 1));
    const redis = stack().stateRedis();
    try {
      assert.equal(await redis.exists(keys.cards), 1, 'the plugin\'s cards are in this database');
      // The guard is on from the start; the probe tells the sharing a round (a second) after the node is live.
      for (let node = 1; node <= 2; node++) {
        await waitFor(`node ${node} sees the sharing`, async () => (await stack().clusterStatus<GuardStatus>(node)).memoryStorage.sharesRedis === 'yes', { timeoutMs: 150_000 });
        assert.deepEqual((await stack().clusterStatus<GuardStatus>(node)).memoryStorage, { sharesRedis: 'yes', guarded: true, refused: 0, hidden: 0 }, `node ${node}`);
      }

      const mine = uniqueName('user-key');
      await admin.ms.set(mine, 'value');
      assert.equal(await admin.ms.get(mine), 'value');
      const listed = (await admin.ms.keys('*')) as string[];
      assert.deepEqual(listed.filter((key) => key.startsWith('kpc:')), [], 'no plugin key listed');
      // On a Redis Cluster, Kuzzle's ms:keys reads one master, picked at random: only the standalone database lists every key.
      if (!onRedisCluster) assert.ok(listed.includes(mine));

      const refusals = {
        del: admin.ms.del([keys.cards]),
        delAmongOthers: admin.ms.del([mine, keys.epoch]),
        hset: admin.ms.hset(keys.cards, 'planted', '{}'),
        rename: admin.ms.rename(mine, keys.cards),
        set: admin.ms.set('kpc:planted', 'x'),
        sortGet: admin.ms.sort(mine, { get: ['*'] }),
        // Kuzzle passes `store` as given: an array there adds options (a review found this way round the first version).
        sortStoreOptions: admin.query({ controller: 'ms', action: 'sort', _id: mine, body: { alpha: true, store: ['dst', 'GET', 'k*'] } }),
        exists: admin.ms.exists([keys.cards]),
        mexecute: admin.query({ controller: 'ms', action: 'mexecute', body: { actions: [{ action: 'set', args: { _id: mine, body: { value: 'changed' } } }, { action: 'del', args: { body: { keys: [keys.roomIndex] } } }] } }),
        pluginSdk: fixtureAction(admin, 'msDel', {}, { keys: [keys.cards] }),
      };
      const statuses = Object.fromEntries(await Promise.all(Object.entries(refusals).map(async ([name, call]) => [name, await statusOf(call)])));
      assert.deepEqual(statuses, Object.fromEntries(Object.keys(refusals).map((name) => [name, 403])));
      // What was refused did not run: the cards and the user's key are as they were.
      assert.equal(await redis.exists(keys.cards), 1);
      assert.equal(await redis.hexists(keys.cards, 'planted'), 0);
      assert.equal(await redis.exists('kpc:planted'), 0);
      assert.equal(await admin.ms.get(mine), 'value', 'no command of the refused transaction ran');
      const guard = (await stack().clusterStatus<GuardStatus>(1)).memoryStorage;
      assert.equal(guard.refused, Object.keys(refusals).length);
      if (!onRedisCluster) assert.ok(guard.hidden >= 1, 'the listing had the plugin\'s keys to hide');
      await admin.ms.del([mine]);
    } finally {
      redis.disconnect();
    }
  });

  it('notifications still cross nodes after the refused calls', async () => {
    const index = uniqueName('ms-guard');
    await ensureCollection(await adminOn(portOf(stack(), 1)), index, 'c');
    const subscriber = await wsClient(portOf(stack(), 1));
    const recorder = new Recorder();
    await subscriber.realtime.subscribe(index, 'c', { equals: { a: 1 } }, recorder.callback);
    await (await wsClient(portOf(stack(), 2))).realtime.publish(index, 'c', { a: 1 });
    await recorder.waitCount(1);
  });
});
