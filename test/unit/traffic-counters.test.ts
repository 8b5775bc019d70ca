import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TrafficCounters } from '../../src/transport/traffic-counters';

describe('TrafficCounters', () => {
  it('gaps are kept per peer after it is gone, for the 256 peers that missed most recently (node ids are new at every start)', () => {
    const traffic = new TrafficCounters();
    for (let i = 0; i < 300; i++) traffic.gap(`node-${i}`, i + 1);
    const gaps = traffic.snapshot().gaps;
    assert.equal(Object.keys(gaps).length, 256);
    assert.equal(gaps['node-299'], 300);
    assert.equal(gaps['node-0'], undefined);
  });
});
