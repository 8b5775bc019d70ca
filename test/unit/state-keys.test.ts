import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StateKeys, collectionTag, encodeCollectionRef } from '../../src/state/keys';

/** The hash tag Redis Cluster hashes: between the first `{` and the next `}`. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  assert.ok(open >= 0 && close > open + 1, `no hash tag in ${key}`);
  return key.slice(open + 1, close);
}

describe('state keys', () => {
  const keys = new StateKeys('kpc');

  it('puts every key of a collection under one hash tag', () => {
    const k = keys.collection('idx', 'col');
    const tag = collectionTag('idx', 'col');
    for (const key of [k.rooms, k.counts, k.owners, k.ownerRooms('n1#1'), k.ownerRooms('a:{b}:c#2')]) {
      assert.equal(hashTag(key), tag);
      assert.ok(key.startsWith(`kpc:{${tag}}:`));
    }
    assert.equal(k.rooms, `kpc:{${tag}}:rooms`);
    assert.equal(k.ownerRooms('x:y#3'), `kpc:{${tag}}:owner:x:y#3`);
    assert.equal(k.ref, '["idx","col"]');
  });

  it('never puts braces inside tags, whatever the names', () => {
    for (const [index, collection] of [
      ['{', '}'],
      ['a{b}', 'c}d{'],
      ['{{}}', ''],
      ['ünï©ødé', '🙂'],
    ] as const) {
      const tag = collectionTag(index, collection);
      assert.doesNotMatch(tag, /[{}]/);
      assert.equal(hashTag(keys.collection(index, collection).ownerRooms('{}')), tag);
    }
  });

  it("writes tags exactly as Buffer's base64url does (nodes on every Node version share the keys)", () => {
    // Names whose JSON gives every base64 padding length and the '+' and '/' digits.
    for (const [index, collection] of [['idx', 'col'], ['a', 'b'], ['ab', 'c'], ['é?>', '~~~'], ['ÿþ', '\u{1F600}'], ['x'.repeat(70), 'y']]) {
      const expected = Buffer.from(JSON.stringify([index, collection]), 'utf8').toString('base64url');
      assert.equal(collectionTag(index, collection), expected);
    }
  });

  it('builds each collection\'s keys once and keeps names that share characters apart', () => {
    const fresh = new StateKeys('kpc');
    assert.equal(fresh.collection('idx', 'col'), fresh.collection('idx', 'col'), 'the same keys, not rebuilt');
    const pairs: Array<[string, string]> = [['a:1', 'b'], ['a', '1:b'], ['3:a', 'b'], ['', '3:ab']];
    for (const [index, collection] of pairs) {
      const k = fresh.collection(index, collection);
      assert.deepEqual([k.index, k.collection, k.ref], [index, collection, encodeCollectionRef(index, collection)]);
      assert.equal(hashTag(k.rooms), collectionTag(index, collection));
    }
    assert.equal(new Set(pairs.map(([i, c]) => fresh.collection(i, c).rooms)).size, pairs.length);
  });

  it('gives distinct collections distinct tags', () => {
    const pairs: Array<[string, string]> = [
      ['a:b', 'c'],
      ['a', 'b:c'],
      ['a', 'bc'],
      ['ab', 'c'],
      ['', 'abc'],
      ['abc', ''],
    ];
    const tags = new Set(pairs.map(([i, c]) => collectionTag(i, c)));
    assert.equal(tags.size, pairs.length);
  });

  it('uses the {prefix} tag for global keys, {prefix:nodes} for cards, {prefix:kuzzle} for records', () => {
    const custom = new StateKeys('my:prefix');
    assert.equal(custom.collections, 'my:prefix:{my:prefix}:collections');
    assert.equal(custom.roomIndex, 'my:prefix:{my:prefix}:roomIndex');
    for (const key of [custom.collections, custom.roomIndex, custom.allOwners, custom.ownerCollections('n{1}#2')]) {
      assert.equal(hashTag(key), 'my:prefix');
    }
    for (const key of [custom.cards, custom.cardExpiry, custom.cardAlive('knode-1'), custom.incarnations, custom.epoch]) assert.equal(hashTag(key), 'my:prefix:nodes');
    assert.equal(custom.records('strategies'), 'my:prefix:{my:prefix:kuzzle}:strategies');
  });

  it('matches Node 15+ base64url for tags (Node 12 has no such encoding)', () => {
    const text = JSON.stringify(['idx?>', 'col~~~ü']);
    const expected = Buffer.from(text, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    assert.equal(collectionTag('idx?>', 'col~~~ü'), expected);
    assert.doesNotMatch(expected, /[+/=]/);
  });

  it('rejects prefixes that would move the hash tag', () => {
    assert.throws(() => new StateKeys('a{b'), TypeError);
    assert.throws(() => new StateKeys('a}b'), TypeError);
    assert.throws(() => new StateKeys(''), TypeError);
  });

  it('encodes collection references as JSON pairs', () => {
    assert.equal(encodeCollectionRef('i', 'c:d'), '["i","c:d"]');
  });
});
