import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Koncorde from 'koncorde';
import { join } from 'node:path';
import { guardKoncordeMinimizer } from '../../src/plugin/espresso-close-guard';
import { isNormalizedFilter } from '../../src/plugin/koncorde-filters';
import { repoRoot } from '../harness/run-dir';

// As the plugin does in Kuzzle: unguarded, a table's late close could hit the next table's file (EBADF).
guardKoncordeMinimizer(join(repoRoot, 'node_modules', 'kuzzle'));

/** Filters of every kind Kuzzle accepts, normalized by Koncorde itself. */
const FILTERS: unknown[] = [
  {},
  { equals: { a: 1 } },
  { equals: { 'a.b': 'x' } },
  { not: { equals: { a: null } } },
  { exists: 'a' },
  { exists: 'tags["red"]' },
  { missing: 'z' },
  { range: { age: { gte: 18, lt: 65 } } },
  { regexp: { name: { value: '^a.*z$', flags: 'i' } } },
  { in: { color: ['red', 'blue'] } },
  { ids: { values: ['x', 'y'] } },
  { geoBoundingBox: { pos: { top: 10, left: 0, bottom: 0, right: 10 } } },
  { geoDistance: { pos: { lat: 1, lon: 2 }, distance: '10km' } },
  { geoDistanceRange: { pos: { lat: 1, lon: 2 }, from: '1km', to: '10km' } },
  { geoPolygon: { pos: { points: [[0, 0], [0, 5], [5, 5]] } } },
  { and: [{ equals: { a: 1 } }, { or: [{ exists: 'b' }, { range: { c: { gt: 0 } } }] }] },
  { bool: { must: [{ equals: { a: 1 } }], must_not: [{ equals: { b: 2 } }], should: [{ exists: 'c' }, { exists: 'd' }] } },
];

describe('isNormalizedFilter', () => {
  it('accepts what Koncorde 3 normalizes, for every kind of filter', async () => {
    const koncorde = new Koncorde();
    for (const filter of FILTERS) {
      const { normalized } = (await koncorde.normalize('i', 'c', filter)) as { normalized: unknown };
      assert.ok(isNormalizedFilter(normalized), `${JSON.stringify(filter)} → ${JSON.stringify(normalized)}`);
      assert.ok(isNormalizedFilter(JSON.parse(JSON.stringify(normalized))), 'after a trip through JSON');
    }
  });

  it('refuses what would break Koncorde: unknown keywords, wrong shapes, bad regexps, empty or oversized lists', () => {
    const bad: unknown[] = [
      null,
      {},
      [],
      [[]],
      [{}],
      [[{ removeAll: true, not: false }]],
      [[{ __proto__: true }]],
      [[{ equals: { a: 1 }, exists: { path: 'a', array: false } }]],
      [[{ equals: { a: 1, b: 2 }, not: false }]],
      [[{ equals: { a: { nested: 1 } }, not: false }]],
      [[{ equals: { a: 1 }, not: 'no' }]],
      [[{ exists: { path: 1, array: false }, not: false }]],
      [[{ range: { a: { gt: '1' } }, not: false }]],
      [[{ range: { a: { between: 1 } }, not: false }]],
      [[{ regexp: { a: { value: '(' } }, not: false }]],
      [[{ geospatial: { geoCircle: { pos: {} } }, not: false }]],
      [[{ everything: 'yes' }]],
      Array.from({ length: 5001 }, () => [{ everything: true }]),
      [Array.from({ length: 501 }, () => ({ equals: { a: 1 }, not: false }))],
    ];
    for (const value of bad) assert.equal(isNormalizedFilter(value), false, JSON.stringify(value)?.slice(0, 120));
  });

  it('never throws on random values', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = (): unknown => {
      const choices: Array<() => unknown> = [() => null, () => random(), () => 'x', () => [pick()], () => ({ equals: pick(), not: random() > 0.5 }), () => ({ [String(random())]: pick() })];
      return (choices[Math.floor(random() * choices.length)] ?? (() => null))();
    };
    for (let i = 0; i < 5000; i++) assert.doesNotThrow(() => isNormalizedFilter([[pick(), pick()]]));
  });
});
