import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemberTable } from '../../src/membership/member-table';
import type { EmitMembershipEvent } from '../../src/membership/peer';
import { cardOf, recordedLinks } from '../support/membership-doubles';


function memberTable() {
  const links = recordedLinks();
  const events: string[] = [];
  const emit: EmitMembershipEvent = (event, ..._args) => void events.push(event);
  return { table: new MemberTable(links, emit, { discoverTimeoutMs: 1000, log: () => undefined }), events };
}

describe('MemberTable', () => {
  it('keeps the newer incarnation of a member when an older card arrives late', () => {
    const { table, events } = memberTable();
    table.add(cardOf('peer', 1));
    table.add(cardOf('peer', 3));
    table.add(cardOf('peer', 2)); // a join answer or card read from before its last rejoin
    assert.equal(table.get('peer')?.card.incarnation, 3);
    assert.deepEqual(events, ['peer:added', 'peer:reincarnated']);
  });

  it('a leave sent under an incarnation not recorded yet (the node joined again, then stopped) removes the member and fences it; one from an older incarnation changes nothing', () => {
    const { table, events } = memberTable();
    table.add(cardOf('peer', 3));
    table.left({ id: 'peer', incarnation: 2 });
    assert.equal(table.has('peer'), true, 'a late leave of an incarnation it left behind');
    table.left({ id: 'peer', incarnation: 4 });
    assert.equal(table.has('peer'), false);
    assert.equal(table.isFenced(cardOf('peer', 4)), true, 'a join of it still under way is not completed');
    assert.deepEqual(events, ['peer:added', 'peer:removed']);
  });
});
