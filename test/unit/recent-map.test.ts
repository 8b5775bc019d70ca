import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentKeys, RecentMap } from '../../src/util/recent-map';

describe('RecentMap', () => {
  it('when full, forgets the entry used least recently (a read makes an entry recent)', () => {
    const map = new RecentMap<string, number>(3);
    map.set('a', 1);
    map.set('b', 2);
    map.set('c', 3);
    assert.equal(map.get('a'), 1);
    map.set('d', 4);
    assert.deepEqual([...map].map(([key]) => key), ['c', 'a', 'd'], 'b, the least recent, went');
    assert.equal(map.size, 3);
  });

  it('RecentKeys tells the first time a key shows up, within its bound', () => {
    const keys = new RecentKeys<string>(2);
    assert.equal(keys.firstTime('x'), true);
    assert.equal(keys.firstTime('x'), false);
    keys.firstTime('y');
    keys.firstTime('z');
    assert.equal(keys.firstTime('x'), true, 'forgotten once two newer keys came');
  });
});
