import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { unhealthyReason } from '../../src/cluster/cluster-status';
import type { Peer } from '../../src/membership/peer';
import { StateAvailability } from '../../src/state/availability';

describe('health', () => {
  const repair = { stateLosses: 0, drifts: 0, ghostsPurged: 0, gapRepairs: 0, indexRepairs: 0, entriesRestored: 0, staleEntriesRemoved: 0, stateUnreachable: undefined };
  const sources = (unacknowledgedBy: string[]) => ({
    ready: true,
    draining: false,
    // Only their number counts here.
    peers: [{}, {}] as Peer[],
    unacknowledgedBy,
    minimumNodes: 3,
    repair,
    redis: new StateAvailability().stats(),
    unreachableBoundMs: 30_000,
    catchUpError: undefined as string | undefined,
  });

  it('does not count the members that did not answer this node\'s rejoin (a one-way cut: they may not count it in), naming them', () => {
    assert.equal(unhealthyReason(sources([])), undefined);
    assert.equal(unhealthyReason(sources(['n2', 'n3'])), '1 node(s) in the cluster (2 member(s) did not answer its rejoin, see status: node.unacknowledgedBy), 3 required');
  });

  it('answers 503 while a catch-up step failed (tried again): the node could serve rights or tokens it missed; no Redis error in the reason', () => {
    const reason = unhealthyReason({ ...sources([]), catchUpError: 'revoked tokens: connect ECONNREFUSED 10.0.0.5:6379' });
    assert.match(reason ?? '', /has not caught up/);
    assert.doesNotMatch(reason ?? '', /10\.0\.0\.5|ECONNREFUSED/);
  });
});
