import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { StateKeys } from '../../src/state/keys';
import { checkRedis } from '../../src/state/redis-check';
import { createRedisClient } from '../../src/state/redis-client';
import { RedisCardStore } from '../../src/state/node-cards';
import { RedisRealtimeStore } from '../../src/state/redis-realtime-store';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { cardOf } from '../support/membership-doubles';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedisCluster, type RunningRedisCluster } from '../harness/redis-cluster';
import { newRunDir } from '../harness/run-dir';
import { realtimeStoreContract, room } from '../support/realtime-store-contract';
import { deletedBeforeRelisting } from '../support/removal-races';

killManagedProcessesOnSignal();

let cluster: RunningRedisCluster | undefined;
let client: Redis | Cluster;

before(async () => {
  cluster = await startRedisCluster(newRunDir('store-cluster'));
  client = createRedisClient({ nodes: cluster.nodes });
  // The plugin's cluster clients fail commands instead of queuing them while not connected.
  await checkRedis(client, { nodes: cluster.nodes }, 10_000);
});

after(async () => {
  client?.disconnect();
  await cluster?.stop();
});

const fresh = (): RedisRealtimeStore => new RedisRealtimeStore(client, new StateKeys(`t${randomUUID()}`));

// Through a cluster client, any script or transaction touching two slots fails with CROSSSLOT.
realtimeStoreContract('Redis Cluster', async () => fresh());

describe('RedisRealtimeStore (Redis Cluster)', () => {
  it('spreads collections over every master, and keeps working across them', async () => {
    const store = fresh();
    const collections = Array.from({ length: 24 }, (_, i) => `col-${i}`);
    for (const [i, collection] of collections.entries()) await store.addSubscriber(room(`r${i}`, collection), `n${i % 3}#1`, i + 1);
    const masters = new Set<string>();
    const keys = new StateKeys('probe');
    for (const collection of collections) {
      const slot = Number(await (client as Cluster).cluster('KEYSLOT', keys.collection('idx', collection).rooms));
      const node = (client as Cluster).slots[slot]?.[0];
      if (node) masters.add(node);
    }
    assert.equal(masters.size, 3, 'collections land on all 3 masters');
    for (const [i] of collections.entries()) assert.equal(await store.countRoom(`r${i}`), i + 1);
    for (const owner of ['n0#1', 'n1#1', 'n2#1']) await store.purgeOwner(owner);
    for (const [i] of collections.entries()) assert.equal(await store.countRoom(`r${i}`), undefined);
    assert.deepEqual(await store.collections(), []);
  });

  it('a room found by a removal check and deleted by another node before this node listed it again: no entry left behind (the deletion and the check in two steps)', () => deletedBeforeRelisting(client, false));

  it('node cards: listed while their alive keys live, which the listing script reads in the cards\' slot', async () => {
    const keys = new StateKeys(`t${randomUUID()}`);
    const cards = new RedisCardStore(client, keys, 5_000, PROTOCOL_VERSION);
    for (const id of ['a', 'b', 'c']) await cards.register(cardOf(id));
    assert.deepEqual((await cards.list()).map((card) => card.id).sort(), ['a', 'b', 'c']);
    await client.del(keys.cardAlive('b'));
    assert.deepEqual((await cards.list()).map((card) => card.id).sort(), ['a', 'c']);
    assert.equal(await cards.get('b'), undefined);
    assert.notEqual(await cards.renewedAt('a'), undefined);
  });
});
