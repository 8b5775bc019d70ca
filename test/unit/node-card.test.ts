import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseNodeCard, type NodeCard } from '../../src/membership/node-card';

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
