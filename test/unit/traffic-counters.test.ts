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

  it('received bytes of types this node does not handle share one key: made-up types take no slot from the real ones', () => {
    const traffic = new TrafficCounters();
    traffic.countTypes((type) => type === 'realtime:change');
    for (let i = 0; i < 500; i++) traffic.bytes('received', `made-up-${i}`, 10);
    traffic.bytes('received', 'realtime:change', 7);
    traffic.bytes('sent', 'realtime:change', 3);
    const { bytesByType, bytesReceived } = traffic.snapshot();
    assert.deepEqual(bytesByType.received, { unknown: 5000, 'realtime:change': 7 });
    assert.deepEqual(bytesByType.sent, { 'realtime:change': 3 });
    assert.equal(bytesReceived, 5007);
  });

  it("a peer's gaps add up and never go down, across its connections (a counter for Prometheus)", () => {
    const traffic = new TrafficCounters();
    traffic.gap('n2', 500);
    // n2 evicted and back: a new connection, whose own count starts again.
    traffic.gap('n2', 3);
    assert.equal(traffic.snapshot().gaps.n2, 503);
  });
});
