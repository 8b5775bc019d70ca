import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { RoomRecord } from '../../src/state/realtime-store';
import { roomBatches } from '../../src/sync/room-announcer';
import {
  conditionsOf,
  MAX_COLLECTIONS_PER_MESSAGE,
  MAX_CONDITIONS_PER_MESSAGE,
  MAX_ROOMS_PER_MESSAGE,
  parseDocumentNotice,
  parseRewritten,
  parseRoomRecord,
  parseRoomsAdded,
  parseRoomsRemoved,
  parseUserNotice,
} from '../../src/sync/messages';

type Obj = Record<string, unknown>;

/** Values that are not a non-empty string. */
const NOT_STRINGS: unknown[] = [undefined, null, '', 0, 1, true, [], ['a'], {}, { a: 1 }];
/** Values that are not a plain object. */
const NOT_OBJECTS: unknown[] = [undefined, null, '', 'x', 0, 1, true, [], [{}], () => undefined];
const GARBAGE: unknown[] = [undefined, null, '', 'garbage', 0, -1, Number.NaN, true, false, [], [1, 2], {}, { foo: 'bar' }, Symbol('s')];

const request = (): Obj => ({ data: { index: 'idx', collection: 'col', _id: 'doc1' }, options: { connection: { protocol: 'websocket' } } });

const validRoom = (): Obj => ({ index: 'idx', collection: 'col', roomId: 'room1', filters: [[{ equals: { name: 'x' } }]] });
const validRemoved = (): Obj => ({ index: 'idx', collection: 'col', roomIds: ['room1', 'room2'] });
const validDocument = (): Obj => ({ rooms: ['r1', 'r2'], request: request(), scope: 'in', action: 'create', content: { _id: 'doc1' } });
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

describe('parseRoomRecord', () => {
  it('accepts a valid body', () => {
    assert.deepEqual(parseRoomRecord(validRoom()), validRoom());
    assert.deepEqual(parseRoomRecord({ ...validRoom(), filters: [] }), { ...validRoom(), filters: [] });
  });

  it('drops unknown fields', () => {
    assert.deepEqual(parseRoomRecord({ ...validRoom(), extra: 1 }), validRoom());
  });

  it('rejects malformed bodies', () => {
    assertAllRejected(parseRoomRecord, garbageCases());
    assertAllRejected(parseRoomRecord, [['array of room', [validRoom()]]]);
    for (const field of ['index', 'collection', 'roomId']) assertAllRejected(parseRoomRecord, mutations(validRoom, field, NOT_STRINGS));
    assertAllRejected(parseRoomRecord, mutations(validRoom, 'filters', [undefined, null, 'x', 1, {}, { equals: {} }]));
  });
});

describe('parseRoomsRemoved', () => {
  it('accepts a valid body', () => {
    assert.deepEqual(parseRoomsRemoved(validRemoved()), validRemoved());
  });

  it('rejects malformed bodies, empty and oversized lists', () => {
    assertAllRejected(parseRoomsRemoved, garbageCases());
    for (const field of ['index', 'collection']) assertAllRejected(parseRoomsRemoved, mutations(validRemoved, field, NOT_STRINGS));
    const tooMany = Array.from({ length: MAX_ROOMS_PER_MESSAGE + 1 }, (_, i) => `r${i}`);
    assertAllRejected(parseRoomsRemoved, mutations(validRemoved, 'roomIds', [undefined, null, 'room1', [], [''], [1], tooMany]));
  });
});

describe('parseRewritten', () => {
  it('accepts a list of collections, and rejects anything else', () => {
    assert.deepEqual(parseRewritten({ collections: [{ index: 'i', collection: 'c' }] }), { collections: [{ index: 'i', collection: 'c' }] });
    assert.equal(parseRewritten({ collections: [] }), undefined, 'nothing to reload');
    const many = Array.from({ length: MAX_COLLECTIONS_PER_MESSAGE + 1 }, (_, i) => ({ index: 'i', collection: `c${i}` }));
    assert.equal(parseRewritten({ collections: many }), undefined, 'more than one message carries: the sender splits them');
    assert.deepEqual(parseRewritten({ collections: many.slice(1) }), { collections: many.slice(1) });
    assertAllRejected(parseRewritten, garbageCases());
    assertAllRejected(parseRewritten, [['bad item', { collections: [{ index: 'i' }] }], ['not a list', { collections: 'c' }]]);
  });
});

describe('parseDocumentNotice', () => {
  it('accepts a valid body', () => {
    assert.deepEqual(parseDocumentNotice(validDocument()), validDocument());
    // content may be anything, including absent.
    const noContent = validDocument();
    delete noContent.content;
    assert.deepEqual(parseDocumentNotice(noContent), { ...noContent, content: undefined });
    // Nothing to deliver, or more rooms than one message carries (the sender splits them): refused.
    assert.equal(parseDocumentNotice({ ...validDocument(), rooms: [] }), undefined);
    assert.equal(parseDocumentNotice({ ...validDocument(), rooms: Array.from({ length: MAX_ROOMS_PER_MESSAGE + 1 }, (_, i) => `r${i}`) }), undefined);
  });

  it('keeps only data and options of the request', () => {
    const body = { ...validDocument(), request: { ...request(), headers: { authorization: 'Bearer x' } } };
    assert.deepEqual(parseDocumentNotice(body)?.request, request());
  });

  it('rejects malformed bodies', () => {
    assertAllRejected(parseDocumentNotice, garbageCases());
    assertAllRejected(parseDocumentNotice, [['array', [validDocument()]]]);
    assertAllRejected(parseDocumentNotice, mutations(validDocument, 'rooms', [undefined, null, 'r1', {}, ['r1', 2], [''], [null], [['r1']]]));
    for (const field of ['scope', 'action']) assertAllRejected(parseDocumentNotice, mutations(validDocument, field, NOT_STRINGS));
    assertAllRejected(parseDocumentNotice, mutations(validDocument, 'request', NOT_OBJECTS));
    const badRequests: unknown[] = [
      { options: {} },
      { data: {} },
      { data: null, options: {} },
      { data: {}, options: null },
      { data: [], options: {} },
      { data: {}, options: [] },
      { data: 'x', options: {} },
    ];
    assertAllRejected(parseDocumentNotice, mutations(validDocument, 'request', badRequests));
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

const FIELD_NAMES = ['index', 'collection', 'roomId', 'filters', 'version', 'rooms', 'room', 'request', 'data', 'options', 'scope', 'action', 'content', 'x'];

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
    const parsers = [parseRoomRecord, parseRoomsRemoved, parseRewritten, parseDocumentNotice, parseUserNotice];
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
      [parseRoomRecord, validRoom],
      [parseRoomsRemoved, validRemoved],
      [parseDocumentNotice, validDocument],
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

describe('room:add bounds', () => {
  const roomWith = (roomId: string, conditions: number): Obj => ({
    index: 'idx',
    collection: 'col',
    roomId,
    filters: [Array.from({ length: conditions }, (_, i) => ({ equals: { [`f${i}`]: i } }))],
  });

  it('peers refuse a message making them store more than MAX_CONDITIONS_PER_MESSAGE conditions, except a single big room', () => {
    const half = MAX_CONDITIONS_PER_MESSAGE / 2;
    assert.ok(parseRoomsAdded({ rooms: [roomWith('a', half), roomWith('b', half)] }));
    assert.equal(parseRoomsAdded({ rooms: [roomWith('a', half), roomWith('b', half + 1)] }), undefined);
    assert.ok(parseRoomsAdded({ rooms: [roomWith('big', MAX_CONDITIONS_PER_MESSAGE + 1)] }), 'a room bigger than the bound travels alone');
  });

  it('the sender cuts rooms into messages within both bounds, every room once, in order', () => {
    const rooms = [
      ...Array.from({ length: MAX_ROOMS_PER_MESSAGE + 5 }, (_, i) => roomWith(`small-${i}`, 1)),
      roomWith('big-1', MAX_CONDITIONS_PER_MESSAGE - 10),
      roomWith('big-2', MAX_CONDITIONS_PER_MESSAGE + 10),
      roomWith('tail', 20),
    ] as unknown as RoomRecord[];
    const batches = roomBatches(rooms);
    assert.deepEqual(batches.flat().map((room) => room.roomId), rooms.map((room) => room.roomId));
    for (const batch of batches) assert.ok(parseRoomsAdded({ rooms: batch }), `a batch of ${batch.length} rooms is accepted`);
    assert.equal(conditionsOf(batches.find((batch) => batch.some((room) => room.roomId === 'big-2'))?.flatMap((room) => room.filters as unknown[]) ?? []), MAX_CONDITIONS_PER_MESSAGE + 10);
  });
});
