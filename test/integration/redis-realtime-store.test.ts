import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { CorruptStateError } from '../../src/state/errors';
import { GlobalIndex } from '../../src/state/global-index';
import { clusterPrefix, StateKeys } from '../../src/state/keys';
import { createRedisClient } from '../../src/state/redis-client';
import { RedisRealtimeStore } from '../../src/state/redis-realtime-store';
import { pluginAclRules } from '../../src/state/redis-acl';
import { RedisRetry } from '../../src/state/redis-retry';
import { encodeRoom } from '../../src/state/replies';
import { roomWeight } from '../../src/state/room-weight';
import { loadScripts, runScript } from '../../src/state/scripts';
import { SubscriberWrites } from '../../src/state/subscriber-writes';
import { killManagedProcessesOnSignal } from '../harness/managed-process';
import { startRedis, type RunningRedis } from '../harness/redis-server';
import { newRunDir } from '../harness/run-dir';
import { realtimeStoreContract, room } from '../support/realtime-store-contract';
import { deletedBeforeRelisting } from '../support/removal-races';

killManagedProcessesOnSignal();

let server: RunningRedis | undefined;
let client: Redis | Cluster;

before(async () => {
  server = await startRedis(newRunDir('store'));
  client = createRedisClient({ node: { host: server.host, port: server.port } });
});

after(async () => {
  client?.disconnect();
  await server?.stop();
});

function fresh(): { store: RedisRealtimeStore; keys: StateKeys } {
  const keys = new StateKeys(`t${randomUUID()}`);
  return { store: new RedisRealtimeStore(client, keys), keys };
}

const keysOf = async (keys: StateKeys): Promise<string[]> => (await client.keys(`${keys.prefix}:*`)).sort();

/** The key pattern of a collection's keys (another slot than the index's). */
const collectionKeys = (keys: StateKeys, index: string, collection: string): string => `${keys.collection(index, collection).rooms.slice(0, -':rooms'.length)}:*`;

/**
 * Runs `work` with a client of a Redis user limited to these ACL rules
 * (every command allowed): `grant` adds rules to it while it runs, the way
 * a failure can start and end between two calls.
 */
async function asLimitedUser(rules: string[], work: (limited: Redis | Cluster, grant: (...more: string[]) => Promise<unknown>) => Promise<void>): Promise<void> {
  const user = `u${randomUUID()}`;
  await client.call('ACL', 'SETUSER', user, 'on', '>secret', ...rules, '+@all');
  const limited = createRedisClient({ node: { host: server?.host ?? '', port: server?.port ?? 0 }, options: { username: user, password: 'secret' } });
  try {
    await work(limited, (...more) => client.call('ACL', 'SETUSER', user, ...more));
  } finally {
    limited.disconnect();
    await client.call('ACL', 'DELUSER', user);
  }
}

realtimeStoreContract('Redis', async () => fresh().store);

describe("RedisRealtimeStore as the plugin's ACL user (README's rules)", () => {
  it('every operation, a whole index sweep included, runs with the generated rules only', async () => {
    const clusterName = `acl${randomUUID().slice(0, 8)}`;
    const user = `u${randomUUID()}`;
    await client.call('ACL', 'SETUSER', user, ...pluginAclRules(clusterName), '>secret');
    const limited = createRedisClient({ node: { host: server?.host ?? '', port: server?.port ?? 0 }, options: { username: user, password: 'secret' } });
    try {
      const keys = new StateKeys(clusterPrefix(clusterName));
      const store = new RedisRealtimeStore(limited, keys);
      await store.addSubscriber(room('a'), 'n1#1');
      await store.addSubscriber(room('b', 'other'), 'n1#1', 2);
      await store.removeSubscriber(room('b', 'other'), 'b', 'n1#1');
      await store.replaceOwner('n2#1', [{ ...room('c'), count: 1 }]);
      assert.equal((await store.ownerDigest('n1#1')).length, 2);
      assert.equal((await store.findRoom('a'))?.collection, 'col');
      // A listing whose room is gone: the end of the walk unlists it (SSCAN).
      await client.sadd(keys.collections, keys.collection('idx', 'empty').ref);
      let cursor = '0';
      let unlisted = 0;
      do {
        const step = await store.sweepStaleEntries(cursor, 1);
        cursor = step.cursor;
        unlisted += step.unlisted;
      } while (cursor !== '0');
      assert.equal(unlisted, 1);
      await store.purgeOwner('n2#1');
      assert.deepEqual((await store.collections()).map((ref) => ref.collection).sort(), ['col', 'other']);
    } finally {
      limited.disconnect();
      await client.call('ACL', 'DELUSER', user);
    }
  });
});

describe('RedisRealtimeStore (standalone Redis)', () => {
  it('resolves Lua includes: every script is self-contained', () => {
    const scripts = loadScripts();
    for (const script of scripts.values()) assert.doesNotMatch(script.lua, /--- @include/, `${script.name} still has an include`);
    // The collection scripts share adjustRoom; the card scripts share the liveness rule.
    for (const name of ['adjustSubscribers', 'setOwnerCounts', 'purgeOwner']) {
      assert.match(scripts.get(name)?.lua ?? '', /local function adjustRoom/, `${name} got the shared fragment`);
    }
    for (const name of ['listCards', 'getCard', 'renewAndListCards']) {
      assert.match(scripts.get(name)?.lua ?? '', /local function cardFate/, `${name} got the card rule`);
      assert.equal(scripts.get(name)?.lua.match(/local function cardFate/g)?.length, 1, `${name} has the card rule once`);
      assert.doesNotMatch(scripts.get(name)?.lua ?? '', /adjustRoom/);
    }
  });

  it('leaves no key behind once every subscriber is gone (no version or empty-collection leftovers)', async () => {
    const { store, keys } = fresh();
    for (let i = 0; i < 20; i++) await store.addSubscriber(room(`r${i}`, `c${i % 4}`), `n${i % 2}#1`);
    for (let i = 0; i < 10; i++) await store.removeSubscriber(room(`r${i}`, `c${i % 4}`), `r${i}`, `n${i % 2}#1`);
    await store.purgeOwner('n0#1');
    await store.replaceOwner('n1#1', []);
    assert.deepEqual(await keysOf(keys), []);
  });

  it('removing index entries keeps those of rooms created again meanwhile, deletion and check in one pipeline', async () => {
    const { store, keys } = fresh();
    const index = new GlobalIndex(client, keys);
    assert.equal(index.keepsOrder, true, 'one server: the deletion and its check share one round trip');
    await store.addSubscriber(room('live'), 'n1#1');
    await client.hset(keys.roomIndex, 'gone', JSON.stringify(['idx', 'col']));
    const k = keys.collection('idx', 'col');
    // Each INFO is one read of Redis too, counted in its own reply.
    const reads = async (): Promise<number> => Number(/total_reads_processed:(\d+)/.exec(await client.info('stats'))?.[1]);
    const before = await reads();
    await index.removeRooms(k, ['gone']);
    assert.equal((await reads()) - before, 2, 'the deletion and its check in one write');
    await index.removeRooms(k, ['live']);
    assert.deepEqual(await client.hmget(keys.roomIndex, 'live', 'gone'), [k.ref, null]);
    assert.deepEqual(await client.smembers(keys.collections), [k.ref], 'the collection still has a room');
    await store.removeSubscriber(room('live'), 'live', 'n1#1');
    assert.equal(await client.hget(keys.roomIndex, 'live'), null);
    assert.deepEqual(await client.smembers(keys.collections), [], 'its last room gone, the collection is unlisted');
  });

  it('a subscription whose index write fails runs no script: no count is left where its owner is not listed (no check would look there)', async () => {
    const { keys } = fresh();
    const k = keys.collection('idx', 'col');
    // A user that may write the collection's keys but only read the index's: the index write fails, not the script.
    await asLimitedUser([`%R~${keys.prefix}:{${keys.prefix}}:*`, `~${collectionKeys(keys, 'idx', 'col')}`], async (limited) => {
      const store = new RedisRealtimeStore(limited, keys);
      await assert.rejects(store.addSubscriber(room('r1'), 'n1#1'), /NOPERM/);
      assert.equal(await client.hget(k.counts, 'r1'), null, 'not counted');
      assert.deepEqual(await keysOf(keys), []);
    });
  });

  it('finds nothing through a stale index entry (a write that failed half-way)', async () => {
    const { store, keys } = fresh();
    await client.hset(keys.roomIndex, 'ghost', JSON.stringify(['idx', 'col']));
    assert.equal(await store.countRoom('ghost'), undefined);
    assert.equal(await store.findRoom('ghost'), undefined);
    await store.addSubscriber(room('ghost'), 'n1#1');
    assert.equal(await store.countRoom('ghost'), 1, 'a real room of that id is found');
  });

  it('purges and rewrites 20,000 rooms of one collection without a call whose arguments grow with the rooms', async () => {
    const { store, keys } = fresh();
    const rooms = Array.from({ length: 20_000 }, (_, i) => ({ ...room(`big${i}`), count: 1 + (i % 3) }));
    await store.replaceOwner('n1#1', rooms);
    assert.equal(await store.countRoom('big19999'), 2);
    const checksum = rooms.reduce((sum, { roomId, count }) => sum + roomWeight(roomId) * count, 0);
    assert.deepEqual(await store.ownerDigest('n1#1'), [{ index: 'idx', collection: 'col', rooms: 20_000, subscribers: 39_999, checksum }], 'the checksum kept by the scripts is the one a node computes');
    await store.replaceOwner('n1#1', rooms.slice(0, 5_000));
    assert.equal(await store.countRoom('big19999'), undefined);
    const changes = await store.purgeOwner('n1#1');
    assert.equal(changes[0]?.removedRooms.length, 5_000);
    assert.deepEqual(await keysOf(keys), []);
  });

  it("the scripts' checksum weighs a room as a node does, whatever the characters of its id (its UTF-8 bytes)", async () => {
    const { store } = fresh();
    // (A lone surrogate, which no room id holds, does not come back from Redis as it went: the unit test weighs it.)
    const ids = ['plain', 'é', '日本語', '😀', 'x'.repeat(300)];
    await store.replaceOwner('n1#1', ids.map((roomId, i) => ({ ...room(roomId), count: i + 1 })));
    const [digest] = await store.ownerDigest('n1#1');
    assert.equal(digest?.checksum, ids.reduce((sum, roomId, i) => sum + roomWeight(roomId) * (i + 1), 0));
    await store.purgeOwner('n1#1');
    assert.deepEqual(await store.ownerDigest('n1#1'), []);
  });

  it('finds the rooms whose index entries Redis lost, and writes them back with their collection listed', async () => {
    const { store, keys } = fresh();
    await store.addSubscriber(room('kept'), 'n1#1');
    await store.addSubscriber(room('lost', 'c2'), 'n1#1');
    // What a failed master's replica may lack: the entry and the listing, written after the script.
    await client.hdel(keys.roomIndex, 'lost');
    await client.srem(keys.collections, keys.collection('idx', 'c2').ref);
    const rooms = [{ index: 'idx', collection: 'col', roomId: 'kept' }, { index: 'idx', collection: 'c2', roomId: 'lost' }];
    const unlisted = await store.unlistedRooms(rooms);
    assert.deepEqual(unlisted.map((r) => r.roomId), ['lost']);
    assert.equal(await store.findRoom('lost'), undefined, 'a join elsewhere would not find it');
    await store.writeEntries('n1#1', unlisted);
    assert.deepEqual(await store.unlistedRooms(rooms), []);
    assert.equal((await store.findRoom('lost'))?.collection, 'c2');
    assert.ok((await store.collections()).some((ref) => ref.collection === 'c2'));
  });

  it('a purge step sent twice (its first reply lost) leaves stale entries, which the index sweep removes, walking in steps', async () => {
    const { store, keys } = fresh();
    const k = keys.collection('idx', 'col');
    // More than Redis keeps in a listpack (hash-max-listpack-entries: 128, or 512 as Debian sets it), which HSCAN returns whole.
    await Promise.all(Array.from({ length: 600 }, (_, i) => store.addSubscriber(room(`gone${i}`), 'n1#1')));
    await store.addSubscriber(room('kept'), 'n2#1');
    // The first try of the purge's first step: it ran, its reply never came.
    await runScript(client, 'purgeOwner', [k.rooms, k.counts, k.ownerRooms('n1#1'), k.owners, k.lastBatch('n1#1')], ['n1#1', 500, '0']);
    // The retry, from the same cursor, no longer sees the rooms the first try deleted.
    const reported = (await store.purgeOwner('n1#1')).flatMap((change) => change.removedRooms).length;
    const lost = 600 - reported;
    assert.ok(lost > 0, 'the first try deleted rooms');
    assert.equal(await store.countRooms(), 1 + lost, 'the rooms the first try deleted kept their entries');
    // Unreadable entries, as a foreign writer could leave them.
    await client.hset(keys.roomIndex, 'junk', 'not json', 'junk2', '["only one"]');
    const steps: Array<{ scanned: number; stale: number; corrupt: number }> = [];
    let cursor = '0';
    do {
      const step = await store.sweepStaleEntries(cursor, 50);
      steps.push(step);
      cursor = step.cursor;
    } while (cursor !== '0' && steps.length < 100);
    assert.equal(cursor, '0', 'the walk ended');
    assert.ok(steps.length > 1, `walked in steps: ${steps.length}`);
    const total = (key: 'scanned' | 'stale' | 'corrupt'): number => steps.reduce((sum, step) => sum + step[key], 0);
    assert.equal(total('stale'), lost);
    assert.equal(total('corrupt'), 2);
    assert.ok(total('scanned') >= 3 + lost);
    assert.deepEqual(await client.hkeys(keys.roomIndex), ['kept']);
    assert.equal((await store.findRoom('kept'))?.collection, 'col');
    assert.ok((await store.collections()).some((ref) => ref.collection === 'col'), 'the collection, which still has a room, stays listed');
  });

  it('unreadable members of the collection sets are dropped when read, and counted by the next sweep step; collections listed without rooms are unlisted at the end of a walk', async () => {
    const { store, keys } = fresh();
    await store.addSubscriber(room('live', 'kept'), 'n1#1');
    // A listing whose script then gave up (no room), and members that name no collection.
    await client.sadd(keys.collections, keys.collection('idx', 'empty').ref, 'junk');
    await client.sadd(keys.ownerCollections('n1#1'), '["only one"]');
    assert.deepEqual((await store.collections()).map((ref) => ref.collection).sort(), ['empty', 'kept'], 'read despite the junk');
    assert.deepEqual((await store.ownerDigest('n1#1')).map((digest) => digest.collection), ['kept']);
    const step = await store.sweepStaleEntries('0', 1000);
    assert.equal(step.cursor, '0');
    assert.deepEqual([step.stale, step.corrupt, step.unlisted], [0, 2, 1]);
    assert.deepEqual((await client.smembers(keys.collections)).sort(), [keys.collection('idx', 'kept').ref]);
    assert.deepEqual(await client.smembers(keys.ownerCollections('n1#1')), [keys.collection('idx', 'kept').ref]);
  });

  it('the index sweep drops an unreadable entry only if it is still what the sweep read', async () => {
    const { keys } = fresh();
    await client.hset(keys.roomIndex, 'r1', 'bad', 'r2', 'bad');
    // r2 was rewritten (by its room's node) between the sweep's read and its drop.
    const dropped = await runScript(client, 'dropEntries', [keys.roomIndex], ['r1', 'bad', 'r2', 'read before']);
    assert.equal(dropped, 1);
    assert.deepEqual(await client.hgetall(keys.roomIndex), { r2: 'bad' });
  });

  it("the subscriptions' script refuses a room weight out of range, writing nothing", async () => {
    const { keys } = fresh();
    const k = keys.collection('idx', 'col');
    for (const weight of [0, 2 ** 24, 1.5, 'x']) {
      await assert.rejects(
        runScript(client, 'adjustSubscribers', [k.rooms, k.counts, k.ownerRooms('n1#1'), k.owners, k.lastBatch('n1#1')], ['n1#1', 'b1', 60_000, 'a', 1, encodeRoom(null), roomWeight('a'), 'b', 1, encodeRoom(null), weight]),
        /KPC_INVALID_COUNT: weight/,
      );
    }
    assert.deepEqual(await keysOf(keys), []);
  });

  it('a batch applied twice (under two tokens: not a resend) shows in the checksum, though not in the totals', async () => {
    const { store, keys } = fresh();
    await store.addSubscriber(room('b'), 'n1#1', 3);
    await store.addSubscriber(room('c'), 'n1#1', 1);
    const before = await store.ownerDigest('n1#1');
    const k = keys.collection('idx', 'col');
    // One batch of the node (one leaves b, another enters c), as its write sends it, run twice.
    for (const token of ['b1', 'b2']) await runScript(client, 'adjustSubscribers', [k.rooms, k.counts, k.ownerRooms('n1#1'), k.owners, k.lastBatch('n1#1')], ['n1#1', token, 60_000, 'b', -1, '', roomWeight('b'), 'c', 1, encodeRoom(room('c').filters), roomWeight('c')]);
    const [twice] = await store.ownerDigest('n1#1');
    assert.deepEqual([twice?.rooms, twice?.subscribers], [before[0]?.rooms, before[0]?.subscribers]);
    assert.equal(twice?.checksum, roomWeight('b') + 3 * roomWeight('c'));
    assert.notEqual(twice?.checksum, 2 * roomWeight('b') + 2 * roomWeight('c'), 'what the node holds after one application');
  });

  it('a batch sent again with its token is applied once: the second call gets the first reply and writes nothing', async () => {
    const { keys } = fresh();
    const k = keys.collection('idx', 'col');
    const send = (token: string): Promise<unknown> =>
      runScript(client, 'adjustSubscribers', [k.rooms, k.counts, k.ownerRooms('n1#1'), k.owners, k.lastBatch('n1#1')], ['n1#1', token, 60_000, 'a', 1, encodeRoom(room('a').filters), roomWeight('a'), 'b', 2, encodeRoom(room('b').filters), roomWeight('b')]);
    const first = await send('b1');
    assert.deepEqual(first, [3, 1, 1, 0, 2, 1, 0]);
    assert.deepEqual(await send('b1'), first, 'the same reply: the room was created by this batch');
    assert.deepEqual(await client.hmget(k.counts, 'a', 'b'), ['1', '2']);
    assert.deepEqual(await send('b2'), [6, 2, 0, 0, 4, 0, 0], 'another batch is applied');
  });

  it('a subscription whose reply is lost (Redis busy past the command timeout) and retried counts once', async () => {
    const keys = new StateKeys(`t${randomUUID()}`);
    const impatient = createRedisClient({ node: { host: server?.host ?? '', port: server?.port ?? 0 }, options: { commandTimeout: 50 } }, () => undefined);
    try {
      const store = new RedisRealtimeStore(impatient, keys, new RedisRetry({ maxMs: 10_000, firstDelayMs: 20, maxDelayMs: 50 }), { listingTtlMs: 60_000 });
      // Listed in the collection already: the next subscription's first call is its script.
      await store.addSubscriber(room('first'), 'n1#1');
      const scriptCalls = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
      const before = await scriptCalls();
      // Redis answers no client for 2 s (well within the 10 s of retries): the script's first try times out, its retries too, and all run afterwards.
      await client.call('CLIENT', 'PAUSE', '2000', 'ALL');
      const added = await store.addSubscriber(room('a'), 'n1#1');
      assert.ok((await scriptCalls()) - before >= 3, 'the script sent at least twice, then the entry');
      assert.equal(await store.countRoom('a'), 1, 'applied once whatever the number of tries');
      assert.deepEqual(added, { total: 1, created: true });
    } finally {
      impatient.disconnect();
    }
  });

  it('stored counts that are not counts (a foreign writer) neither fail the scripts nor keep a purge from ending, and never create a room', async () => {
    const { store, keys } = fresh();
    const k = keys.collection('idx', 'col');
    await store.addSubscriber(room('a'), 'n1#1');
    await store.addSubscriber(room('b'), 'n1#1');
    await client.hset(k.ownerRooms('n1#1'), 'a', 'junk', 'b', '0', 'ghost', '-4', 'hex', '0x10');
    // What Lua's tonumber reads as integers, and HINCRBY refuses.
    await client.hset(k.counts, 'a', '5.0', 'b', '1e3', 'hex', ' 5');
    await client.hset(k.owners, 'n1#1', 'x', 'n1#1\nchecksum', 'y');
    // The scripts go through (the bad values count as 0) ...
    assert.deepEqual(await store.addSubscriber(room('a'), 'n1#1'), { total: 1, created: false });
    await store.removeSubscriber(room('b'), 'b', 'n1#1');
    // ... and so does a purge, which leaves nothing of the owner, and no room made of a negative count.
    await store.purgeOwner('n1#1');
    assert.equal(await client.exists(k.ownerRooms('n1#1')), 0);
    assert.equal(await client.hexists(k.rooms, 'ghost'), 0);
    assert.deepEqual(await store.ownerDigest('n1#1'), []);
  });

  it('a rewrite abandoned part way stops at its next batch: a leaving node does not wait for all of it', async () => {
    const { store } = fresh();
    const rooms = Array.from({ length: 20_000 }, (_, i) => ({ ...room(`big${i}`), count: 1 }));
    let asked = 0;
    // Abandoned once two batches are written.
    await store.replaceOwner('n1#1', rooms, undefined, () => ++asked > 2);
    const [digest] = await store.ownerDigest('n1#1');
    assert.equal(digest?.rooms, 1_000, 'two batches of 500 written, no more');
    await store.purgeOwner('n1#1');
    assert.deepEqual(await store.ownerDigest('n1#1'), []);
  });

  it('subscriptions written together: a collection whose script fails fails its own callers only; its rooms get their entries all the same (stale, harmless)', async () => {
    const { store, keys } = fresh();
    // A key of the wrong type makes that collection's script fail on Redis.
    await client.set(keys.collection('idx', 'broken').rooms, 'not a hash');
    const results = await Promise.allSettled([
      store.addSubscriber(room('ok1', 'fine'), 'n1#1'),
      store.addSubscriber(room('bad1', 'broken'), 'n1#1'),
      store.addSubscriber(room('ok2', 'fine'), 'n1#1'),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(await store.countRoom('ok2'), 1, 'each room of the healthy collection counted');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /WRONGTYPE/);
    // A failed script may have gone through (its reply lost): its room gets its entry, stale here, checked when read.
    assert.notEqual(await client.hget(keys.roomIndex, 'bad1'), null);
    assert.equal(await store.countRoom('bad1'), undefined);
    // Both listed before their scripts ran: the failed one's listing is stale, never missing.
    assert.deepEqual((await client.smembers(keys.ownerCollections('n1#1'))).sort(), [keys.collection('idx', 'fine').ref, keys.collection('idx', 'broken').ref].sort());
  });

  it('a room deleted on one node while another subscribes to it: the write of the subscriber lists it once its script created it again', async () => {
    const keys = new StateKeys(`t${randomUUID()}`);
    const k = keys.collection('idx', 'col');
    const leaver = new RedisRealtimeStore(client, keys);
    await leaver.addSubscriber(room('r1'), 'n2#1');
    // The subscriber's script waits until the other node removed the room's last subscriber and its index entry.
    let leave: Promise<unknown> | undefined;
    const writes = new SubscriberWrites(new GlobalIndex(client, keys), async (ck, owner, changes) => {
      leave ??= leaver.removeSubscriber(room('r1'), 'r1', 'n2#1');
      await leave;
      return runScript(client, 'adjustSubscribers', [ck.rooms, ck.counts, ck.ownerRooms(owner), ck.owners, ck.lastBatch(owner)], [owner, 'b1', 60_000, ...changes]);
    });
    const result = await writes.write({ k, owner: 'n1#1', roomId: 'r1', delta: 1, json: encodeRoom(room('r1').filters), indexed: false });
    assert.deepEqual(result, { total: 1, created: true, removed: false }, 'deleted by the other node, created again');
    assert.equal(await client.hget(keys.roomIndex, 'r1'), k.ref, 'listed: found by a join elsewhere');
  });

  it('a rewrite of an owner forgets which collections this node listed it in: the next subscription there lists it again before its script', async () => {
    const keys = new StateKeys(`t${randomUUID()}`);
    const store = new RedisRealtimeStore(client, keys, undefined, { listingTtlMs: 60_000 });
    const scriptCalls = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    await store.addSubscriber(room('r1', 'c'), 'n1#1');
    let before = await scriptCalls();
    await store.addSubscriber(room('r2', 'c'), 'n1#1');
    assert.equal((await scriptCalls()) - before, 2, 'listed already: the script, then the entry');
    // The listing lost (as when Redis lost the state), then a rewrite of another collection.
    await client.del(keys.ownerCollections('n1#1'));
    await store.replaceOwner('n1#1', [], [{ index: 'idx', collection: 'other' }]);
    before = await scriptCalls();
    await store.addSubscriber(room('r3', 'c'), 'n1#1');
    assert.equal((await scriptCalls()) - before, 3, 'the listing, the script, the entry');
    assert.deepEqual(await client.smembers(keys.ownerCollections('n1#1')), [keys.collection('idx', 'c').ref]);
  });

  it('two nodes subscribing to and leaving the same rooms at once: every room left has its index entry once the writes that made it returned', async () => {
    const keys = new StateKeys(`t${randomUUID()}`);
    const other = createRedisClient({ node: { host: server?.host ?? '', port: server?.port ?? 0 } });
    try {
      const stores = [new RedisRealtimeStore(client, keys), new RedisRealtimeStore(other, keys)];
      const owners = ['n1#1', 'n2#1'];
      const held = [new Map<string, number>(), new Map<string, number>()];
      const k = keys.collection('idx', 'col');
      // A fixed pseudo-random sequence: the same interleavings on every run.
      let seed = 7;
      const next = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
      for (let round = 0; round < 150; round++) {
        const ops: Array<Promise<unknown>> = [];
        for (let i = 0; i < 12; i++) {
          const node = next(2);
          const roomId = `r${next(4)}`;
          const mine = held[node] as Map<string, number>;
          const count = mine.get(roomId) ?? 0;
          const store = stores[node] as RedisRealtimeStore;
          if (count > 0 && next(2) === 0) {
            mine.set(roomId, count - 1);
            ops.push(store.removeSubscriber(room(roomId), roomId, owners[node] as string));
          } else {
            mine.set(roomId, count + 1);
            ops.push(store.addSubscriber(room(roomId), owners[node] as string, 1, count > 0));
          }
        }
        await Promise.all(ops);
        const live = Object.keys(await client.hgetall(k.rooms)).sort();
        const listed = await client.hmget(keys.roomIndex, ...['r0', 'r1', 'r2', 'r3']);
        for (const roomId of live) assert.notEqual(listed[Number(roomId.slice(1))], null, `round ${round}: room ${roomId} has no index entry`);
        const expected = ['r0', 'r1', 'r2', 'r3'].filter((roomId) => (held[0]?.get(roomId) ?? 0) + (held[1]?.get(roomId) ?? 0) > 0);
        assert.deepEqual(live, expected, `round ${round}: the rooms with subscribers`);
      }
    } finally {
      other.disconnect();
    }
  });

  it('reports malformed stored JSON as a named error', async () => {
    const { store, keys } = fresh();
    await store.addSubscriber(room('r1'), 'n1#1');
    await client.hset(keys.collection('idx', 'col').rooms, 'r1', '{not json');
    await assert.rejects(store.findRoom('r1'), CorruptStateError);
  });
});

describe('GlobalIndex (standalone Redis)', () => {
  it('addAll lists the collections, the rooms (past one script call of rooms) and the owner, in one script per 500 rooms', async () => {
    const { keys } = fresh();
    const index = new GlobalIndex(client, keys);
    const a = keys.collection('idx', 'a');
    const b = keys.collection('idx', 'b');
    const roomsOfA = Array.from({ length: 1200 }, (_, i) => `a${i}`);
    await index.addAll('n1#1', [
      { k: a, roomIds: roomsOfA },
      { k: b, roomIds: ['b0'] },
    ]);
    assert.deepEqual((await client.smembers(keys.collections)).sort(), [a.ref, b.ref].sort());
    assert.deepEqual((await client.smembers(keys.ownerCollections('n1#1'))).sort(), [a.ref, b.ref].sort());
    assert.deepEqual(await client.smembers(keys.allOwners), ['n1#1']);
    assert.equal(await client.hlen(keys.roomIndex), 1201);
    assert.equal(await client.hget(keys.roomIndex, 'a1199'), a.ref);
    assert.equal((await index.locate('b0'))?.collection, 'b');
    // No room: the collection and the owner are listed all the same; again: nothing changes.
    await index.addAll('n2#1', [{ k: b, roomIds: [] }]);
    await index.addAll('n2#1', [{ k: b, roomIds: [] }]);
    assert.deepEqual(await client.smembers(keys.ownerCollections('n2#1')), [b.ref]);
    assert.deepEqual((await client.smembers(keys.allOwners)).sort(), ['n1#1', 'n2#1']);
    assert.equal(await client.hlen(keys.roomIndex), 1201);
    // Many collections of one room each: every call carries only its own rooms' collections.
    const many = Array.from({ length: 700 }, (_, i) => ({ k: keys.collection('idx', `m${i}`), roomIds: [`m${i}-room`] }));
    await index.addAll('n3#1', many);
    assert.equal(await client.scard(keys.ownerCollections('n3#1')), 700);
    assert.equal(await client.scard(keys.collections), 702);
    assert.equal(await client.hget(keys.roomIndex, 'm699-room'), many[699]?.k.ref);
  });

  it('list sends nothing for collections this node listed for the owner already, until the owner leaves them', async () => {
    const { keys } = fresh();
    const index = new GlobalIndex(client, keys, undefined, { listingTtlMs: 60_000 });
    const a = keys.collection('idx', 'a');
    const b = keys.collection('idx', 'b');
    const scriptCalls = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    let before = await scriptCalls();
    await index.list('n1#1', [a, b]);
    assert.equal((await scriptCalls()) - before, 1);
    assert.deepEqual((await client.smembers(keys.ownerCollections('n1#1'))).sort(), [a.ref, b.ref].sort());
    before = await scriptCalls();
    await index.list('n1#1', [a, b]);
    assert.equal((await scriptCalls()) - before, 0, 'listed already: no call');
    await index.removeOwnerCollection(a, 'n1#1');
    assert.deepEqual(await client.smembers(keys.ownerCollections('n1#1')), [b.ref]);
    before = await scriptCalls();
    await index.list('n1#1', [a, b]);
    assert.equal((await scriptCalls()) - before, 1, 'left: listed again');
    assert.deepEqual((await client.smembers(keys.ownerCollections('n1#1'))).sort(), [a.ref, b.ref].sort());
    await index.forgetOwner('n1#1');
    await index.list('n1#1', [b]);
    assert.deepEqual(await client.smembers(keys.ownerCollections('n1#1')), [b.ref], 'forgotten: listed again');
  });

  it('list remembers a listing for listingTtlMs only (a peer may have purged the owner meanwhile), and nothing by default', async () => {
    const { keys } = fresh();
    let clock = 1000;
    const index = new GlobalIndex(client, keys, undefined, { listingTtlMs: 500, now: () => clock });
    const a = keys.collection('idx', 'a');
    const scriptCalls = async (): Promise<number> => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    await index.list('n1#1', [a]);
    // Purged by a peer that presumed this node dead.
    await client.del(keys.ownerCollections('n1#1'), keys.allOwners);
    clock += 499;
    let before = await scriptCalls();
    await index.list('n1#1', [a]);
    assert.equal((await scriptCalls()) - before, 0, 'remembered');
    clock += 1;
    await index.list('n1#1', [a]);
    assert.deepEqual(await client.smembers(keys.ownerCollections('n1#1')), [a.ref], 'listed again once the listing is as old as listingTtlMs');
    assert.deepEqual(await client.smembers(keys.allOwners), ['n1#1']);
    const forgetful = new GlobalIndex(client, keys);
    await forgetful.list('n1#1', [a]);
    before = await scriptCalls();
    await forgetful.list('n1#1', [a]);
    assert.equal((await scriptCalls()) - before, 1, 'by default, listed every time');
  });

  it("a removal whose check gave up after its deletion went through: repairPending checks again, and the room created again meanwhile gets its entry back", async () => {
    const { store, keys } = fresh();
    const k = keys.collection('idx', 'col');
    // This node's script deleted r1, then another node created it again and listed it after its script.
    await store.addSubscriber(room('r1'), 'n2#1');
    // This node's deletion of the entry goes through, its check of the collection fails (as Redis lost between the two).
    await asLimitedUser([`~${keys.prefix}:{${keys.prefix}}:*`], async (limited, grant) => {
      const index = new GlobalIndex(limited, keys);
      await assert.rejects(index.removeRooms(k, ['r1']), /NOPERM/);
      assert.equal(await client.hget(keys.roomIndex, 'r1'), null, 'a counted room without its entry');
      assert.equal(index.pendingRepairs, 1);
      const failed = await index.repairPending();
      assert.equal(failed.checked, 0);
      assert.match(String(failed.error), /NOPERM/, 'still failing: said, and kept');
      assert.equal(index.pendingRepairs, 1);
      await grant(`%R~${collectionKeys(keys, 'idx', 'col')}`);
      assert.deepEqual(await index.repairPending(), { checked: 1 });
      assert.equal(await client.hget(keys.roomIndex, 'r1'), k.ref, 'found again by a join elsewhere');
      assert.equal(index.pendingRepairs, 0);
      assert.deepEqual(await index.repairPending(), { checked: 0 }, 'done once');
    });
    assert.equal(await store.countRoom('r1'), 1);
  });

  it('a room found by a removal check and deleted by another node before this node listed it again: no entry left behind', () => deletedBeforeRelisting(client, true));

  it('a relisting that gave up: repairPending lists the rooms that still exist, not those deleted since', async () => {
    const { store, keys } = fresh();
    const k = keys.collection('idx', 'col');
    await store.addSubscriber(room('r1'), 'n1#1');
    await store.addSubscriber(room('r2'), 'n1#1');
    await asLimitedUser([`%R~${keys.prefix}:{${keys.prefix}}:*`], async (limited, grant) => {
      const index = new GlobalIndex(limited, keys);
      // A rewrite created r1 and r2; its relisting gives up.
      await assert.rejects(index.relistCreated(k, ['r1', 'r2'], 'n1#1'), /NOPERM/);
      assert.equal(index.pendingRepairs, 2);
      // Meanwhile another node's removal of rooms of the same ids took r1's entry
      // (what the relisting is for) and unlisted the collection; r2 was deleted, its entry left stale.
      await client.hdel(keys.roomIndex, 'r1');
      await client.srem(keys.collections, k.ref);
      await store.removeSubscriber(room('r2'), 'r2', 'n1#1');
      await client.hset(keys.roomIndex, 'r2', k.ref);
      await grant(`~${keys.prefix}:{${keys.prefix}}:*`, `%R~${collectionKeys(keys, 'idx', 'col')}`);
      assert.deepEqual(await index.repairPending(), { checked: 2 });
      assert.deepEqual(await client.hmget(keys.roomIndex, 'r1', 'r2'), [k.ref, null], 'the live room listed again, no entry for the one deleted since');
      assert.deepEqual(await client.smembers(keys.collections), [k.ref], 'the collection listed again: it has a room');
    });
  });
});
