import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { newRoutingId, nodeIdOfRoutingId } from '../../src/transport/routing-ids';

describe('routing ids', () => {
  it('name their node, whatever its id holds, with a part new for each connection', () => {
    for (const nodeId of ['knode-a', 'with/slash/', '']) {
      const first = newRoutingId(nodeId);
      assert.equal(nodeIdOfRoutingId(first), nodeId);
      assert.notEqual(newRoutingId(nodeId), first);
    }
    assert.equal(nodeIdOfRoutingId('plain'), 'plain', 'an id without a random part names the node it spells');
    assert.ok(Buffer.byteLength(newRoutingId('x'.repeat(200))) <= 255, 'within ZeroMQ\'s bound for the longest node id');
  });
});
