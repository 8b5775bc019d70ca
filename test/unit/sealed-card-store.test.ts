import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { curveKeysOf } from '../../src/cluster/exposure';
import type { CardRefusal } from '../../src/membership/card-seal';
import type { CardStore } from '../../src/membership/card-store';
import type { NodeCard } from '../../src/membership/node-card';
import { MAX_PINS, PIN_IDLE_MS, SealedCardStore } from '../../src/membership/sealed-card-store';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';

const card = (id: string, identityKey = `key-of-${id}`): NodeCard => ({
  id,
  incarnation: 1,
  startedAt: 1,
  protocol: PROTOCOL_VERSION,
  addresses: { router: `tcp://${id}/router`, pub: `tcp://${id}/pub` },
  identityKey,
});

/** The cards a Redis would hold, as they are planted. */
function plantedStore(): CardStore & { cards: Map<string, NodeCard> } {
  const cards = new Map<string, NodeCard>();
  return {
    cards,
    register: async (c) => void cards.set(c.id, c),
    unregister: async (id) => void cards.delete(id),
    list: async () => [...cards.values()],
    renew: async (c) => [...cards.set(c.id, c).values()],
    get: async (id) => cards.get(id),
    renewedAt: async () => undefined,
    nextIncarnation: async () => 1,
  };
}

describe('SealedCardStore seals', () => {
  it('seals this node\'s card once per card, and checks a card read once per object: a card altered in Redis is still refused', async () => {
    const inner = plantedStore();
    const keys = curveKeysOf({ secretKey: curveKeyPair().secretKey, accept: [] });
    const refused: CardRefusal[] = [];
    const store = new SealedCardStore(inner, PROTOCOL_VERSION, keys, { refused: (_c, why) => void refused.push(why), foreignProtocol: () => undefined, trusted: () => undefined });
    const own = { ...card('self'), addresses: { router: 'tcp://self/router', pub: 'tcp://self/pub', curveKey: keys.publicKey } };
    await store.register(own);
    const sealed = inner.cards.get('self');
    await store.register(own);
    assert.equal(inner.cards.get('self'), sealed, 'the same card renewed: sealed once');
    assert.equal(await store.get('self'), sealed, 'trusted');
    assert.equal(await store.get('self'), sealed, 'trusted again (the check remembered)');

    // A Redis writer alters the card (a new object, as a new JSON parses to one): checked again, refused.
    inner.cards.set('self', { ...(sealed as NodeCard), addresses: { ...own.addresses, router: 'tcp://attacker/router' } });
    assert.equal(await store.get('self'), undefined);
    assert.deepEqual(refused, ['forged']);

    // A new incarnation is a new card: sealed again, and trusted.
    const next = { ...own, incarnation: 2 };
    await store.register(next);
    assert.notEqual(inner.cards.get('self'), sealed);
    assert.equal((await store.get('self'))?.incarnation, 2);
  });
});

describe('SealedCardStore identity pins', () => {
  it('a flood of new node ids cannot make it forget a live node\'s identity: new ids are refused until old pins are idle', async () => {
    const inner = plantedStore();
    let now = 1_000_000;
    const refused: CardRefusal[] = [];
    const store = new SealedCardStore(inner, PROTOCOL_VERSION, undefined, { refused: (_c, why) => void refused.push(why), foreignProtocol: () => undefined, trusted: () => undefined }, () => now);
    inner.cards.set('victim', card('victim'));
    assert.ok(await store.get('victim'), 'pinned');
    // Someone holding the cluster key mints cards under new ids, while the victim keeps renewing its own.
    for (let i = 0; i < MAX_PINS; i++) inner.cards.set(`minted${i}`, card(`minted${i}`));
    await store.list();
    assert.equal(refused.filter((why) => why === 'pinsFull').length, 1, 'only the id beyond the bound is refused');
    inner.cards.set('victim', card('victim', 'the flooder\'s own key'));
    assert.equal(await store.get('victim'), undefined, 'the victim\'s id still holds its first key');
    assert.ok(refused.includes('identityChanged'));

    // The flood stops (its cards expire); the victim's card stays live and read.
    inner.cards.clear();
    inner.cards.set('victim', card('victim'));
    now += PIN_IDLE_MS + 1;
    assert.ok(await store.get('victim'), 'read again: its pin is the most recent');
    inner.cards.set('newcomer', card('newcomer'));
    assert.ok(await store.get('newcomer'), 'an idle pin made room for a new node');
    inner.cards.set('victim', card('victim', 'the flooder\'s own key'));
    assert.equal(await store.get('victim'), undefined, 'still pinned to its first key');
  });
});
