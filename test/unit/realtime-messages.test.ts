import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CHANGE_ACTIONS, MAX_DOCUMENTS_PER_MESSAGE, parseChangeNotice, parseUserNotice } from '../../src/sync/messages';

type Obj = Record<string, unknown>;

/** Values that are not a non-empty string. */
const NOT_STRINGS: unknown[] = [undefined, null, '', 0, 1, true, [], ['a'], {}, { a: 1 }];
/** Values that are not a plain object. */
const NOT_OBJECTS: unknown[] = [undefined, null, '', 'x', 0, 1, true, [], [{}], () => undefined];
const GARBAGE: unknown[] = [undefined, null, '', 'garbage', 0, -1, Number.NaN, true, false, [], [1, 2], {}, { foo: 'bar' }, Symbol('s')];

const request = (): Obj => ({ data: { index: 'idx', collection: 'col', _id: 'doc1' }, options: { connection: { protocol: 'websocket' } } });

const validChange = (): Obj => ({ index: 'idx', collection: 'col', action: 'update', request: request(), documents: [{ _id: 'doc1', _source: { a: 1 }, _updatedFields: ['a'] }] });
const validPublish = (): Obj => ({ index: 'idx', collection: 'col', action: 'publish', request: request(), documents: [] });
const validUser = (): Obj => ({ room: 'r1', request: request(), scope: 'in', content: { count: 2 } });

/** Every body obtained by replacing one field of `valid` with each bad value (or deleting it). */
function* mutations(valid: () => Obj, field: string, badValues: unknown[]): Generator<[string, Obj]> {
  for (const bad of badValues) {
    const body = valid();
    if (bad === undefined) delete body[field];
    else body[field] = bad;
    yield [`${field}=${typeof bad === 'function' ? 'function' : JSON.stringify(bad)}`, body];
  }
}

function assertAllRejected(parse: (body: unknown) => unknown, cases: Iterable<[string, unknown]>): void {
  for (const [label, body] of cases) {
    assert.equal(parse(body), undefined, `expected ${label} to be rejected`);
  }
}

const garbageCases = (): Array<[string, unknown]> => GARBAGE.map((g) => [`garbage ${String(typeof g === 'symbol' ? 'symbol' : JSON.stringify(g))}`, g]);

describe('parseChangeNotice', () => {
  it('accepts a valid body, each action', () => {
    assert.deepEqual(parseChangeNotice(validChange()), validChange());
    assert.deepEqual(parseChangeNotice(validPublish()), validPublish());
    for (const action of CHANGE_ACTIONS.filter((a) => a !== 'publish')) assert.ok(parseChangeNotice({ ...validChange(), action }));
    const most = Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE }, (_, i) => ({ _id: `d${i}` }));
    assert.ok(parseChangeNotice({ ...validChange(), documents: most }));
  });

  it('keeps only what a peer matches and notifies', () => {
    const body = { ...validChange(), request: { ...request(), headers: { authorization: 'Bearer x' } }, extra: 1 };
    assert.deepEqual(parseChangeNotice(body), validChange());
  });

  it('rejects malformed bodies: documents for a publish, none for a change, more than one message carries', () => {
    assertAllRejected(parseChangeNotice, garbageCases());
    assertAllRejected(parseChangeNotice, [['array', [validChange()]]]);
    for (const field of ['index', 'collection']) assertAllRejected(parseChangeNotice, mutations(validChange, field, NOT_STRINGS));
    assertAllRejected(parseChangeNotice, mutations(validChange, 'action', [...NOT_STRINGS, 'explode', 4]));
    assertAllRejected(parseChangeNotice, mutations(validChange, 'request', NOT_OBJECTS));
    assertAllRejected(parseChangeNotice, mutations(validChange, 'request', [{ options: {} }, { data: {} }, { data: null, options: {} }, { data: {}, options: [] }]));
    assertAllRejected(parseChangeNotice, mutations(validChange, 'documents', [undefined, null, {}, 'x', [], [1], [null], [[]]]));
    assertAllRejected(parseChangeNotice, mutations(validChange, 'documents', [Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE + 1 }, () => ({}))]));
    assertAllRejected(parseChangeNotice, mutations(validPublish, 'documents', [[{ _id: 'x' }]]));
  });
});

describe('parseUserNotice', () => {
  it('accepts a valid body', () => {
    assert.deepEqual(parseUserNotice(validUser()), validUser());
  });

  it('rejects malformed bodies', () => {
    assertAllRejected(parseUserNotice, garbageCases());
    assertAllRejected(parseUserNotice, [['array', [validUser()]]]);
    for (const field of ['room', 'scope']) assertAllRejected(parseUserNotice, mutations(validUser, field, NOT_STRINGS));
    assertAllRejected(parseUserNotice, mutations(validUser, 'request', NOT_OBJECTS));
    assertAllRejected(parseUserNotice, mutations(validUser, 'request', [{ data: {} }, { options: {} }, { data: [], options: {} }]));
  });
});

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIELD_NAMES = ['index', 'collection', 'documents', '_id', '_source', 'room', 'request', 'data', 'options', 'scope', 'action', 'content', 'x'];

function randomJson(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 3 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return [0, -1, 1, 1.5, 3, Number.MAX_SAFE_INTEGER, -0][Math.floor(random() * 7)];
    case 3:
      return ['', 'a', 'idx', 'col', 'room1', '__proto__', 'constructor'][Math.floor(random() * 7)];
    case 4:
      return undefined;
    case 5: {
      const length = Math.floor(random() * 4);
      return Array.from({ length }, () => randomJson(random, depth + 1));
    }
    default: {
      const object: Obj = {};
      const count = Math.floor(random() * 6);
      for (let i = 0; i < count; i++) {
        const name = FIELD_NAMES[Math.floor(random() * FIELD_NAMES.length)] ?? 'x';
        object[name] = randomJson(random, depth + 1);
      }
      return object;
    }
  }
}

describe('realtime message parsers (fuzz)', () => {
  it('never throw on random JSON values, and only return objects', () => {
    const random = prng(0xc0ffee);
    const parsers = [parseChangeNotice, parseUserNotice];
    for (let i = 0; i < 5000; i++) {
      const value = randomJson(random, 0);
      // Also through JSON, as values really arrive.
      const text = JSON.stringify(value);
      const roundTripped: unknown = text === undefined ? undefined : JSON.parse(text);
      for (const parse of parsers) {
        for (const body of [value, roundTripped]) {
          let result: unknown;
          assert.doesNotThrow(() => {
            result = parse(body);
          }, `parser ${parse.name} threw on ${text}`);
          assert.ok(result === undefined || (typeof result === 'object' && result !== null), `${parse.name} returned ${String(result)}`);
        }
      }
    }
  });

  it('never throw on valid bodies with one field replaced by a random value', () => {
    const random = prng(42);
    const cases: Array<[(body: unknown) => unknown, () => Obj]> = [
      [parseChangeNotice, validChange],
      [parseChangeNotice, validPublish],
      [parseUserNotice, validUser],
    ];
    for (let i = 0; i < 2000; i++) {
      for (const [parse, valid] of cases) {
        const body = valid();
        const fields = Object.keys(body);
        const field = fields[Math.floor(random() * fields.length)] ?? 'x';
        body[field] = randomJson(random, 1);
        assert.doesNotThrow(() => parse(body));
      }
    }
  });
});
