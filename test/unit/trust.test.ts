import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { curveKeysOf } from '../../src/cluster/exposure';
import { checkCard, sealCard } from '../../src/membership/card-seal';
import type { NodeCard } from '../../src/membership/node-card';
import { NodeIdentities } from '../../src/membership/node-identities';
import { SealedRecords, type UnreadableRecord } from '../../src/state/sealed-records';
import type { SharedRecords } from '../../src/state/shared-records';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';
import { agreedKey } from '../../src/transport/key-agreement';

const OLD = curveKeyPair();
const NEW = curveKeyPair();
const onOld = curveKeysOf({ secretKey: OLD.secretKey, accept: [] });
const onOldAcceptingNew = curveKeysOf({ secretKey: OLD.secretKey, accept: [NEW.publicKey] });
const onNewAcceptingOld = curveKeysOf({ secretKey: NEW.secretKey, accept: [OLD.publicKey] });
const onNew = curveKeysOf({ secretKey: NEW.secretKey, accept: [] });

const card = (serverKey: string, fields: Partial<NodeCard> = {}): NodeCard => ({
  id: 'node-a',
  incarnation: 3,
  startedAt: 1,
  protocol: PROTOCOL_VERSION,
  addresses: { router: 'tcp://10.0.0.1:7510', pub: 'tcp://10.0.0.1:7511', curveKey: serverKey },
  identityKey: curveKeyPair().publicKey,
  ...fields,
});

describe('key agreement', () => {
  it('gives both sides the same key, one per label, the same again when asked twice, and refuses a low-order key', () => {
    const ab = agreedKey(OLD.secretKey, NEW.publicKey, 'a');
    assert.deepEqual(agreedKey(NEW.secretKey, OLD.publicKey, 'a'), ab);
    assert.deepEqual(agreedKey(OLD.secretKey, NEW.publicKey, 'a'), ab);
    assert.notDeepEqual(agreedKey(OLD.secretKey, NEW.publicKey, 'b'), ab);
    // The all-zero point: its shared secret is known to anyone.
    assert.throws(() => agreedKey(OLD.secretKey, '00000000000000000000000000000000000000000', 'a'), /low order|not a Z85/);
    // More keys than the cache holds: still computed right.
    for (let i = 0; i < 300; i++) agreedKey(OLD.secretKey, NEW.publicKey, `label-${i}`);
    assert.deepEqual(agreedKey(NEW.secretKey, OLD.publicKey, 'a'), ab);
  });
});

describe('card seal', () => {
  it('a card sealed with the cluster key is trusted by every node holding it', () => {
    assert.equal(checkCard(sealCard(card(OLD.publicKey), onOld), onOld), undefined);
  });

  it('any field changed after sealing (addresses, identity key, incarnation, server key) makes it forged', () => {
    const sealed = sealCard(card(OLD.publicKey), onOld);
    const changes: Array<Partial<NodeCard>> = [
      { addresses: { ...sealed.addresses, pub: 'tcp://evil:7511' } },
      { addresses: { ...sealed.addresses, router: 'tcp://evil:7510' } },
      { identityKey: curveKeyPair().publicKey },
      { incarnation: 4 },
      { id: 'node-b' },
    ];
    for (const change of changes) assert.equal(checkCard({ ...sealed, ...change }, onOld), 'forged', JSON.stringify(change));
  });

  it('a Redis writer without the key: its own server key is refused, a card without a seal too, a seal made with another key is forged', () => {
    const stranger = curveKeyPair();
    const strangerKeys = curveKeysOf({ secretKey: stranger.secretKey, accept: [] });
    assert.equal(checkCard(sealCard(card(stranger.publicKey), strangerKeys), onOld), 'serverKey');
    assert.equal(checkCard(card(OLD.publicKey), onOld), 'unsealed');
    // Claiming the cluster's server key, sealed by someone else: the proof does not hold.
    const fake = sealCard(card(OLD.publicKey), curveKeysOf({ secretKey: stranger.secretKey, accept: [OLD.publicKey] }));
    const relabelled = { ...fake, proofs: { [OLD.publicKey]: fake.proofs?.[OLD.publicKey] ?? '' } };
    assert.equal(checkCard(relabelled, onOld), 'forged');
  });

  it('during a key rollover, nodes on the old and on the new key trust each other\'s cards; after it, the old key is out', () => {
    // Step 2 of README's rollover: some nodes on (NEW, accept OLD), others still on (OLD, accept NEW).
    assert.equal(checkCard(sealCard(card(NEW.publicKey), onNewAcceptingOld), onOldAcceptingNew), undefined);
    assert.equal(checkCard(sealCard(card(OLD.publicKey), onOldAcceptingNew), onNewAcceptingOld), undefined);
    // Step 1 and 3 meet step 2.
    assert.equal(checkCard(sealCard(card(OLD.publicKey), onOldAcceptingNew), onOldAcceptingNew), undefined);
    assert.equal(checkCard(sealCard(card(NEW.publicKey), onNew), onNewAcceptingOld), undefined);
    // A node only on NEW does not trust a card of a node only on OLD.
    assert.equal(checkCard(sealCard(card(OLD.publicKey), onOld), onNew), 'serverKey');
  });
});

/** Records in memory, as Redis would hold them. */
function memoryRecords(): SharedRecords & { raw: Map<string, unknown> } {
  const raw = new Map<string, unknown>();
  return {
    raw,
    set: async (name, value) => void raw.set(name, JSON.parse(JSON.stringify(value)) as unknown),
    delete: async (name) => void raw.delete(name),
    all: async () => [...raw].map(([name, value]) => ({ name, value })),
  };
}

describe('sealed records', () => {
  const secretConfig = { clientSecret: 'oauth-client-secret-123' };

  it('are encrypted at rest and read back by any node holding the key', async () => {
    const store = memoryRecords();
    const unreadable: string[] = [];
    const writer = new SealedRecords(store, 'strategies', onOld, (name, why) => void unreadable.push(`${name}:${why}`));
    await writer.set('oauth', secretConfig);
    assert.equal(JSON.stringify([...store.raw]).includes('oauth-client-secret-123'), false, 'no secret in clear in Redis');
    const reader = new SealedRecords(store, 'strategies', onOld, (name, why) => void unreadable.push(`${name}:${why}`));
    assert.deepEqual(await reader.all(), [{ name: 'oauth', value: secretConfig }]);
    assert.deepEqual(unreadable, []);
  });

  it('a record planted in clear, altered, moved to another name or sealed with another key is skipped and reported', async () => {
    const store = memoryRecords();
    const reasons: Array<[string, UnreadableRecord]> = [];
    const records = new SealedRecords(store, 'strategies', onOld, (name, why) => void reasons.push([name, why]));
    await records.set('good', secretConfig);
    store.raw.set('planted', { strategy: 'evil' });
    const sealed = store.raw.get('good') as { for: Record<string, string> };
    const altered = JSON.parse(JSON.stringify(sealed)) as { for: Record<string, string> };
    const bytes = Buffer.from(altered.for[OLD.publicKey] ?? '', 'base64');
    bytes[bytes.length - 1] ^= 1;
    altered.for[OLD.publicKey] = bytes.toString('base64');
    store.raw.set('altered', altered);
    store.raw.set('moved', sealed);
    await new SealedRecords(store, 'strategies', onNew, () => undefined).set('other-key', secretConfig);
    assert.deepEqual(await records.all(), [{ name: 'good', value: secretConfig }]);
    assert.deepEqual(reasons.sort(), [['altered', 'forged'], ['moved', 'forged'], ['other-key', 'notForThisKey'], ['planted', 'unsealed']]);
  });

  it('through a rollover: resealed at each step, records stay readable to every node, then to the new key alone', async () => {
    const store = memoryRecords();
    await new SealedRecords(store, 's', onOld, () => undefined).set('r', secretConfig);
    // Step 1: restarted on (OLD, accept NEW): resealed for both.
    await new SealedRecords(store, 's', onOldAcceptingNew, () => undefined).reseal();
    assert.deepEqual(await new SealedRecords(store, 's', onNewAcceptingOld, () => undefined).all(), [{ name: 'r', value: secretConfig }]);
    // Step 2 then 3.
    await new SealedRecords(store, 's', onNewAcceptingOld, () => undefined).reseal();
    assert.deepEqual(await new SealedRecords(store, 's', onNew, () => undefined).all(), [{ name: 'r', value: secretConfig }]);
  });
});

describe('node identities (request MACs)', () => {
  const cardOf = (id: string, identities: NodeIdentities): NodeCard => ({ ...card(OLD.publicKey), id, identityKey: identities.own.publicKey });

  it('a request signed by a node is verified as coming from it, and from nobody else', async () => {
    const registry = new Map<string, NodeCard>();
    const lookup = async (id: string) => registry.get(id);
    const a = new NodeIdentities(lookup);
    const b = new NodeIdentities(lookup);
    const impostor = new NodeIdentities(lookup);
    for (const [id, identities] of [['a', a], ['b', b], ['impostor', impostor]] as const) registry.set(id, cardOf(id, identities));
    a.remember(cardOf('b', b));
    impostor.remember(cardOf('b', b));
    const input = JSON.stringify(['a request']);
    const mac = a.sign('b', input);
    assert.ok(mac);
    assert.equal(await b.verify({ id: 'a', incarnation: 3 }, input, mac), true, 'looked up, then verified');
    assert.equal(b.verify({ id: 'a', incarnation: 3 }, input, mac), true, 'known: verified at once');
    assert.equal(await b.verify({ id: 'a', incarnation: 3 }, `${input} `, mac), false, 'another content');
    // The impostor holds every key but a's own: it signs in a's name with its key.
    const forged = impostor.sign('b', input);
    assert.equal(await b.verify({ id: 'a', incarnation: 3 }, input, forged), false);
    assert.equal(await b.verify({ id: 'a', incarnation: 3 }, input, undefined), false, 'unsigned');
    assert.equal(await b.verify({ id: 'nobody', incarnation: 1 }, input, mac), false, 'no card');
  });

  it('unknown senders are looked up at a bounded rate: forged ids cannot turn into a Redis flood', async () => {
    let lookups = 0;
    const b = new NodeIdentities(async () => {
      lookups++;
      return undefined;
    });
    await Promise.all(Array.from({ length: 500 }, (_, i) => b.verify({ id: `forged-${i}`, incarnation: 1 }, 'x', 'AAAA')));
    assert.ok(lookups <= 40, `${lookups} lookups`);
  });
});
