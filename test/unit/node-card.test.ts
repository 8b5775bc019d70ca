import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ownerOf, parseNodeCard, parseOwner, sameSocketsAndKeys, shareASocket, type NodeCard } from '../../src/membership/node-card';
import { PROTOCOL_VERSION } from '../../src/transport/envelope';

type Obj = Record<string, unknown>;

const valid = (): Obj => ({
  id: 'knode-1',
  addresses: { router: 'tcp://10.0.0.1:7510', pub: 'tcp://10.0.0.1:7511' },
  incarnation: 4,
  startedAt: 1732480000000,
  protocol: 1,
  kuzzleVersion: '2.31.0',
});

describe('parseNodeCard', () => {
  it('accepts a valid card', () => {
    assert.deepEqual(parseNodeCard(valid()), valid());
  });

  it('survives a JSON round trip (as read from Redis)', () => {
    assert.deepEqual(parseNodeCard(JSON.parse(JSON.stringify(valid()))), valid());
  });

  it('makes kuzzleVersion optional and drops a non-string one', () => {
    const card = valid();
    delete card.kuzzleVersion;
    const expected: NodeCard = {
      id: 'knode-1',
      addresses: { router: 'tcp://10.0.0.1:7510', pub: 'tcp://10.0.0.1:7511' },
      incarnation: 4,
      startedAt: 1732480000000,
      protocol: 1,
      kuzzleVersion: undefined,
    };
    assert.deepEqual(parseNodeCard(card), expected);
    assert.deepEqual(parseNodeCard({ ...valid(), kuzzleVersion: 2 }), expected);
  });

  it('copies only the known fields', () => {
    const card = parseNodeCard({ ...valid(), extra: 1, addresses: { ...(valid().addresses as Obj), extra: 2 } });
    assert.deepEqual(card, valid());
    const input = valid();
    const parsed = parseNodeCard(input);
    assert.notEqual(parsed?.addresses, input.addresses, 'addresses are copied');
  });

  it('rejects garbage', () => {
    for (const value of [undefined, null, '', 'card', 0, 1, true, [], [valid()], () => undefined]) {
      assert.equal(parseNodeCard(value), undefined, `${String(value)} should be rejected`);
    }
  });

  it('rejects a card with a missing or mistyped field', () => {
    const bad: Array<[string, unknown[]]> = [
      ['id', [undefined, null, '', 1, {}, [], 'has#hash', 'x'.repeat(201)]],
      ['incarnation', [undefined, null, 0, -1, 1.5, '1']],
      ['startedAt', [undefined, null, '1', {}, []]],
      ['protocol', [undefined, null, '1', {}, []]],
      ['addresses', [undefined, null, 'tcp://x:1', 1, {}, { router: 'tcp://x:1' }, { pub: 'tcp://x:2' }, { router: 1, pub: 'tcp://x:2' }, { router: 'tcp://x:1', pub: null }, { router: 'udp://x:1', pub: 'tcp://x:2' }]],
    ];
    for (const [field, values] of bad) {
      for (const value of values) {
        const card = valid();
        if (value === undefined) delete card[field];
        else card[field] = value;
        assert.equal(parseNodeCard(card), undefined, `${field}=${JSON.stringify(value)} should be rejected`);
      }
    }
  });
});

describe('card comparisons', () => {
  const card = (router: string, pub: string, curveKey?: string): NodeCard => ({
    id: 'n',
    incarnation: 1,
    startedAt: 1,
    protocol: PROTOCOL_VERSION,
    addresses: { router, pub, ...(curveKey ? { curveKey } : {}) },
  });

  it('sameSocketsAndKeys: router, pub and server key must all match (a join must present the card it registered)', () => {
    const key = 'k'.repeat(40);
    assert.equal(sameSocketsAndKeys(card('tcp://a:1', 'tcp://a:2', key), card('tcp://a:1', 'tcp://a:2', key)), true);
    assert.equal(sameSocketsAndKeys(card('tcp://a:1', 'tcp://a:2'), card('tcp://a:1', 'tcp://evil:2')), false, 'a PUB re-pointed elsewhere');
    assert.equal(sameSocketsAndKeys(card('tcp://a:1', 'tcp://a:2'), card('tcp://evil:1', 'tcp://a:2')), false);
    assert.equal(sameSocketsAndKeys(card('tcp://a:1', 'tcp://a:2', key), card('tcp://a:1', 'tcp://a:2', 'x'.repeat(40))), false, 'another key');
  });

  it('shareASocket: one port in common is enough (two live nodes cannot bind one port)', () => {
    assert.equal(shareASocket(card('tcp://a:1', 'tcp://a:2'), card('tcp://a:1', 'tcp://b:2')), true);
    assert.equal(shareASocket(card('tcp://a:1', 'tcp://a:2'), card('tcp://b:1', 'tcp://a:2')), true);
    assert.equal(shareASocket(card('tcp://a:1', 'tcp://a:2'), card('tcp://b:1', 'tcp://b:2')), false);
  });

  it('parseOwner reads back what ownerOf writes', () => {
    assert.deepEqual(parseOwner(ownerOf({ id: 'node-1', incarnation: 42 })), { id: 'node-1', incarnation: 42 });
  });
});
