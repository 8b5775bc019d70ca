import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';

import { StateKeys } from '../../src/state/keys';
import { RedisCardStore } from '../../src/state/node-cards';
import { createRedisClient } from '../../src/state/redis-client';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedis, type RunningRedis } from '../harness/redis-server';
import { newRunDir } from '../harness/run-dir';
import { cardOf } from '../support/membership-doubles';

killManagedProcessesOnSignal();

const TTL_MS = 5000;

let server: RunningRedis | undefined;
let client: Redis | Cluster;

before(async () => {
  server = await startRedis(newRunDir('node-cards'));
  client = createRedisClient({ node: { host: server.host, port: server.port } });
});

after(async () => {
  client?.disconnect();
  await server?.stop();
});


/**
 * The client, except that `onRead` runs right after each ZRANGEBYSCORE
 * reply and before it is handed back: where a renewal from another node
 * lands between reading the card ids and acting on them.
 */
function interleaved(redis: Redis | Cluster, onRead: () => Promise<void>): Redis | Cluster {
  return new Proxy(redis, {
    get(target, property) {
      if (property === 'zrangebyscore') {
        return async (...args: Parameters<Redis['zrangebyscore']>) => {
          const reply = await target.zrangebyscore(...args);
          await onRead();
          return reply;
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('RedisCardStore (standalone Redis)', () => {
  it('pruning keeps a card renewed right after it was read as expired', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const owner = new RedisCardStore(client, keys, TTL_MS);
    const stalled = cardOf('stalled');
    await owner.register(stalled);
    // Its node stalled past the TTL: the card is expired.
    await client.zadd(keys.cardExpiry, Date.now() - 1, stalled.id);
    let renewed = false;
    const reader = new RedisCardStore(
      interleaved(client, async () => {
        if (renewed) return;
        renewed = true;
        await owner.register(stalled); // the node runs again and renews its card
      }),
      keys,
      TTL_MS,
    );
    await reader.list();
    assert.equal(renewed, true, 'the renewal ran during the pruning');
    assert.equal((await reader.get(stalled.id))?.id, stalled.id, 'the renewed card is still there');
    assert.deepEqual((await reader.list()).map((card) => card.id), [stalled.id]);
  });

  it('pruning drops expired cards (data and expiry) and keeps live ones', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const store = new RedisCardStore(client, keys, TTL_MS);
    for (const id of ['gone', 'live']) await store.register(cardOf(id));
    await client.zadd(keys.cardExpiry, Date.now() - 1, 'gone');
    assert.deepEqual((await store.list()).map((card) => card.id), ['live']);
    assert.equal(await client.hexists(keys.cards, 'gone'), 0);
    assert.equal(await client.zscore(keys.cardExpiry, 'gone'), null);
    assert.equal((await store.get('live'))?.id, 'live');
  });
});
