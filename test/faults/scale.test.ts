import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { Redis } from 'ioredis';
import { ensureCollection, portOf, Recorder, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, statusOf, waitMembers } from './support/cluster-checks';

/** Subscriptions in all (KPC_SCALE_SUBSCRIPTIONS to change it). */
const TOTAL = Number(process.env.KPC_SCALE_SUBSCRIPTIONS ?? 100_000);
const COLLECTIONS = 10;
const CLIENTS_PER_NODE = 4;
/** Subscriptions in flight per client. */
const WINDOW = 100;

const collectionOf = (i: number): string => `c${i % COLLECTIONS}`;

/**
 * A cluster at scale: 100,000 subscriptions (one room each) over 3 nodes
 * and 10 collections; a node killed (its third is purged) and a fourth
 * joining (it loads the two thirds left). Afterwards the counts and the
 * Redis keys are exactly what the live subscriptions say. Not a timing:
 * timings are in bench/.
 */
describe(`faults: ${TOTAL} subscriptions, a node killed and one joining`, () => {
  const stack = useStack({ nodes: 3, clusterOptions: { timers: { waitForMissingRooms: 10_000 } } });
  const index = uniqueName('scale');
  let redis: Redis;

  before(async () => {
    const admin = await wsClient(portOf(stack(), 1));
    await admin.index.create(index);
    for (let c = 0; c < COLLECTIONS; c++) await ensureCollection(admin, index, `c${c}`);
    redis = new Redis(stack().redis?.port ?? 0, '127.0.0.1', { lazyConnect: true });
    await redis.connect();
  });

  after(() => redis?.disconnect());

  /** Subscribes rooms `from`..`to` (exclusive) through one client, WINDOW at a time. */
  async function subscribeRange(client: Kuzzle, from: number, to: number): Promise<void> {
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to) {
        const i = next++;
        await client.realtime.subscribe(index, collectionOf(i), { equals: { k: i } }, () => undefined);
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
  }

  const sharedRooms = (): Promise<number> => redis.hlen('kpc:kuzzle:{kpc:kuzzle}:roomIndex');
  it('keeps exact counts and keys through a crash and a join', { timeout: 1_800_000 }, async () => {
    const perNode = Math.ceil(TOTAL / 3);
    const clients: Kuzzle[][] = [];
    for (const node of [1, 2, 3]) {
      const list: Kuzzle[] = [];
      for (let c = 0; c < CLIENTS_PER_NODE; c++) list.push(await wsClient(portOf(stack(), node), { pingInterval: 60_000 }));
      clients.push(list);
    }
    const started = Date.now();
    await Promise.all(
      clients.flatMap((list, n) =>
        list.map((client, c) => {
          const from = n * perNode + Math.floor((c * perNode) / CLIENTS_PER_NODE);
          const to = Math.min(TOTAL, n * perNode + Math.floor(((c + 1) * perNode) / CLIENTS_PER_NODE));
          return subscribeRange(client, from, to);
        }),
      ),
    );
    console.log(`# ${TOTAL} subscriptions in ${Math.round((Date.now() - started) / 1000)} s`);
    assert.equal(await sharedRooms(), TOTAL, 'every room in the shared state');

    // A subscriber of node 1 hears a change made through node 3 in a room of node 2.
    const probe = new Recorder();
    const watcher = await wsClient(portOf(stack(), 1));
    const probeRoom = await watcher.realtime.subscribe(index, collectionOf(perNode + 5), { equals: { k: perNode + 5 } }, probe.callback);
    assert.equal(await watcher.realtime.count(probeRoom), 2);

    const evictionsBefore = (await statusOf(stack(), 1)).evictions;
    await stack().node(3).kill();
    await waitMembers(stack(), [1, 2], 2, 15_000);
    await waitFor('node 3\'s third purged from the shared state', async () => (await sharedRooms()) === 2 * perNode, { timeoutMs: 120_000, intervalMs: 1000 });
    await assertNoGhost(stack(), [1, 2]);

    const joining = await stack().addNode();
    await waitMembers(stack(), [1, 2, 4], 3, 120_000);
    const status = await statusOf(stack(), 1);
    // One eviction, node 3's, whichever way node 1 noticed it: the newcomer loading its rooms was not evicted.
    const deaths = (evictions: Record<string, number>): number => (evictions.connectionLost ?? 0) + (evictions.timeout ?? 0);
    assert.equal(deaths(status.evictions), deaths(evictionsBefore) + 1, `only node 3 was evicted: ${JSON.stringify(status.evictions)}`);
    // The newcomer loaded every room: a change made through it reaches node 1's subscriber.
    const actor = await wsClient(portOf(stack(), 4));
    await actor.realtime.publish(index, collectionOf(perNode + 5), { k: perNode + 5 });
    await probe.waitCount(1, 'notification through the new node', 30_000);
    assert.equal(await actor.realtime.count(probeRoom), 2, 'counted from the new node');
    assert.equal(joining.alive, true);
    await assertNoGhost(stack(), [1, 2, 4]);
    assert.equal(await sharedRooms(), 2 * perNode);
  });
});
