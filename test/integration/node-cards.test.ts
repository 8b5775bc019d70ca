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
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { waitFor } from '../harness/wait';

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


const storeOf = (keys: StateKeys, ttlMs = TTL_MS): RedisCardStore => new RedisCardStore(client, keys, ttlMs, PROTOCOL_VERSION);

/** Runs `write` with this process' clock moved by `offsetMs`: a node whose clock is off. */
async function withClockOff<T>(offsetMs: number, write: () => Promise<T>): Promise<T> {
  const realNow = Date.now;
  Date.now = () => realNow() + offsetMs;
  try {
    return await write();
  } finally {
    Date.now = realNow;
  }
}

describe('RedisCardStore (standalone Redis)', () => {
  it('pruning drops dead cards (data, alive key and expiry) and keeps live ones; a dead node renewing is listed again', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const store = storeOf(keys);
    for (const id of ['gone', 'live']) await store.register(cardOf(id));
    // Its alive key expired: the node is dead.
    await client.del(keys.cardAlive('gone'));
    assert.deepEqual((await store.list()).map((card) => card.id), ['live']);
    assert.equal(await client.hexists(keys.cards, 'gone'), 0);
    assert.equal(await client.zscore(keys.cardExpiry, 'gone'), null);
    assert.equal(await store.get('gone'), undefined);
    assert.equal((await store.get('live'))?.id, 'live');
    await store.register(cardOf('gone'));
    assert.deepEqual((await store.list()).map((card) => card.id).sort(), ['gone', 'live']);
  });

  it('a card read again unchanged is the same object (parsed once); one changed in Redis is parsed anew; a renewal after Redis lost the card writes it back', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const store = storeOf(keys);
    const own = cardOf('own');
    await store.register(own);
    const [first] = await store.list();
    assert.equal((await store.list())[0], first, 'unchanged: the same object');
    assert.equal(await store.get('own'), first);
    await client.hset(keys.cards, 'own', JSON.stringify({ ...own, incarnation: own.incarnation + 1 }));
    assert.equal((await store.list())[0]?.incarnation, own.incarnation + 1, 'changed in Redis: read as it is now');
    // Redis lost everything: the next renewal of the same card (its JSON kept) writes it whole.
    await client.del(keys.cards, keys.cardAlive('own'), keys.cardExpiry);
    await store.register(own);
    assert.deepEqual((await store.list()).map((card) => `${card.id}#${card.incarnation}`), [`own#${own.incarnation}`]);
    assert.notEqual(await client.pttl(keys.cardAlive('own')), -2, 'alive again');
  });

  it('a renewal lists the live cards in the same call: its own card, written or written back, among them, the dead ones pruned', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const store = storeOf(keys);
    const own = cardOf('own');
    for (const id of ['gone', 'peer']) await store.register(cardOf(id));
    await client.del(keys.cardAlive('gone'));
    const listed = await store.renew(own);
    assert.deepEqual(listed.map((card) => card.id).sort(), ['own', 'peer']);
    assert.equal(listed.find((card) => card.id === 'peer'), (await store.list()).find((card) => card.id === 'peer'), 'parsed once, as list() does');
    assert.equal(await client.hexists(keys.cards, 'gone'), 0, 'the dead card pruned');
    const ttl = await client.pttl(keys.cardAlive('own'));
    assert.ok(ttl > 0 && ttl <= TTL_MS, `alive key renewed with the ttl (${ttl} ms)`);
    assert.ok(Number(await client.zscore(keys.cardExpiry, 'own')) > Date.now(), 'expiry written for earlier protocols');
    // The same cards: only their fingerprint comes back, and the same list is handed out.
    assert.equal(await store.renew(own), listed);
    await store.register(cardOf('new'));
    assert.deepEqual((await store.renew(own)).map((card) => card.id).sort(), ['new', 'own', 'peer'], 'a new card: listed anew');
    await client.del(keys.cardAlive('new'));
    assert.deepEqual((await store.renew(own)).map((card) => card.id).sort(), ['own', 'peer'], 'a card gone: listed anew');
    // Redis lost everything: the next renewal writes the card back and lists it.
    await client.del(keys.cards, keys.cardAlive('own'), keys.cardAlive('peer'), keys.cardExpiry);
    assert.deepEqual((await store.renew(own)).map((card) => `${card.id}#${card.incarnation}`), [`own#${own.incarnation}`]);
  });

  it('whether a card is live does not depend on the clocks of its writer or its reader: Redis expires it, ttl after its last renewal', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    // Long enough for the reads below on a loaded machine; the expiry itself is waited for.
    const reader = storeOf(keys, 3_000);
    // Written by nodes whose clocks are a minute behind and a minute ahead.
    await withClockOff(-60_000, () => reader.register(cardOf('behind')));
    await withClockOff(60_000, () => reader.register(cardOf('ahead')));
    assert.deepEqual((await reader.list()).map((card) => card.id).sort(), ['ahead', 'behind'], 'both live when just renewed');
    assert.equal((await reader.get('behind'))?.id, 'behind');
    // Read by a node whose clock is a minute ahead: still live.
    assert.deepEqual((await withClockOff(60_000, () => reader.list())).map((card) => card.id).sort(), ['ahead', 'behind']);
    assert.notEqual(await reader.renewedAt('behind'), undefined);
    // Not renewed: gone once Redis expires them.
    await waitFor('the cards to expire', async () => (await reader.list()).length === 0, { timeoutMs: 15_000 });
    assert.equal(await reader.renewedAt('behind'), undefined);
  });

  it('a card of an earlier wire protocol (an expiry only) is listed while its expiry is ahead; one of this protocol needs its alive key', async () => {
    const keys = new StateKeys(`kpc-test-${randomUUID()}`);
    const store = storeOf(keys);
    // As a node of protocol 4 wrote its card.
    const older = { ...cardOf('older'), protocol: PROTOCOL_VERSION - 1 };
    await client.multi().hset(keys.cards, older.id, JSON.stringify(older)).zadd(keys.cardExpiry, Date.now() + TTL_MS, older.id).exec();
    // A card of this protocol whose alive key is gone, its expiry still ahead.
    await store.register(cardOf('dead'));
    await client.del(keys.cardAlive('dead'));
    assert.deepEqual((await store.list()).map((card) => `${card.id}@${card.protocol}`), [`older@${PROTOCOL_VERSION - 1}`]);
    assert.equal((await store.get('older'))?.id, 'older');
    assert.equal(await store.get('dead'), undefined);
    // Past its expiry on this node's clock, which may disagree with its writer's: left out, not deleted yet.
    await client.zadd(keys.cardExpiry, Date.now() - 1, older.id);
    assert.equal(await store.get('older'), undefined, 'get judges a card as the listing does');
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await client.hkeys(keys.cards), ['older'], 'the dead card of this protocol pruned, the older one kept');
    // A minute past it: deleted.
    await client.zadd(keys.cardExpiry, Date.now() - 61_000, older.id);
    assert.deepEqual(await store.list(), []);
    assert.equal(await client.hlen(keys.cards), 0);
  });
});
