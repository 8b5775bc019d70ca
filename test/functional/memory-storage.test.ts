import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ADMIN } from '../harness/admin';
import { portOf, Recorder, ensureCollection, uniqueName, useStack, wsClient } from './support/fixture';

interface GuardStatus {
  memoryStorage: { sharesRedis: string; guarded: boolean; refused: number; hidden: number };
  members: number;
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

describe('Kuzzle\'s memoryStorage on the Redis database of the plugin\'s state', () => {
  const stack = useStack({ nodes: 2, memoryStorageSharesState: true });

  it('keeps the plugin\'s keys out of reach of ms:* users, even an administrator\'s, and serves their own keys as one Kuzzle does', async () => {
    await stack().adminToken();
    const admin = await adminOn(portOf(stack(), 1));
    const redis = stack().stateRedis();
    try {
      const pluginKeys = (await redis.keys('kpc:*')).sort();
      assert.ok(pluginKeys.some((key) => key.endsWith(':cards')), `the plugin's cards are in this database: ${pluginKeys.join(', ')}`);
      const cards = pluginKeys.find((key) => key.endsWith(':cards')) ?? '';
      for (let node = 1; node <= 2; node++) {
        assert.deepEqual((await stack().clusterStatus<GuardStatus>(node)).memoryStorage, { sharesRedis: 'yes', guarded: true, refused: 0, hidden: 0 }, `node ${node}`);
      }

      const mine = uniqueName('user-key');
      await admin.ms.set(mine, 'value');
      assert.equal(await admin.ms.get(mine), 'value');
      const listed = (await admin.ms.keys('*')) as string[];
      assert.ok(listed.includes(mine));
      assert.deepEqual(listed.filter((key) => key.startsWith('kpc:')), [], 'no plugin key listed');

      assert.equal(await statusOf(admin.ms.del([cards])), 403);
      assert.equal(await statusOf(admin.ms.del([mine, pluginKeys[0] ?? ''])), 403);
      assert.equal(await statusOf(admin.ms.hset(cards, 'planted', '{}')), 403);
      assert.equal(await statusOf(admin.ms.rename(mine, cards)), 403);
      assert.equal(await statusOf(admin.ms.set('kpc:planted', 'x')), 403);
      assert.equal(await statusOf(admin.ms.sort(mine, { get: ['*'] })), 403);
      assert.equal(await statusOf(admin.ms.exists([cards])), 403);
      // What was refused did not run: the cards and the user's key are as they were.
      assert.equal(await redis.exists(cards), 1);
      assert.equal(await redis.hexists(cards, 'planted'), 0);
      assert.equal(await redis.exists('kpc:planted'), 0);
      assert.equal(await admin.ms.get(mine), 'value');
      const refusedOn1 = (await stack().clusterStatus<GuardStatus>(1)).memoryStorage;
      assert.equal(refusedOn1.refused, 7);
      assert.ok(refusedOn1.hidden >= pluginKeys.length - 1, `hidden ${refusedOn1.hidden} of ${pluginKeys.length}`);
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
