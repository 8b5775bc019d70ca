import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { GlobalIndex } from '../../src/state/global-index';
import { StateKeys } from '../../src/state/keys';
import { RedisRealtimeStore } from '../../src/state/redis-realtime-store';
import { holdingTransactions } from './held-transactions';
import { room } from './realtime-store-contract';

/**
 * A room found by a node's removal check, deleted by another node (whose
 * own removal of its entry comes first) before this node's listing of it
 * lands: no entry may be left behind. `keepsOrder`: whether the client
 * sends the deletion and the check in one write (one server) or two (Redis
 * Cluster), as GlobalIndex decides.
 */
export async function deletedBeforeRelisting(client: Redis | Cluster, keepsOrder: boolean): Promise<void> {
  const keys = new StateKeys(`t${randomUUID()}`);
  const store = new RedisRealtimeStore(client, keys);
  const k = keys.collection('idx', 'col');
  await store.addSubscriber(room('r1'), 'n2#1');
  let deleted = false;
  const late = holdingTransactions(client, async () => {
    await store.removeSubscriber(room('r1'), 'r1', 'n2#1');
    deleted = true;
  });
  const index = new GlobalIndex(late, keys);
  assert.equal(index.keepsOrder, keepsOrder);
  await index.removeRooms(k, ['r1']);
  assert.equal(deleted, true, 'the race was run');
  assert.equal(await client.hget(keys.roomIndex, 'r1'), null, 'not left stale');
  assert.deepEqual(await client.smembers(keys.collections), [], 'no room left: unlisted');
}
