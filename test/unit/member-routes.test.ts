import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemberRoutes } from '../../src/transport/member-routes';

describe('MemberRoutes', () => {
  const naming = { routingIdOf: (name: string) => name.slice('R('.length, -1) };

  it('one connection per member: a new one, or the member gone, releases what the previous one left half-sent', () => {
    const released: string[] = [];
    const members = new Set(['m']);
    const routes = new MemberRoutes(naming, (id) => members.has(id), (name) => released.push(name));
    routes.note('m', 'R(m/1)', routes.ticket());
    routes.note('m', 'R(m/1)', routes.ticket());
    assert.deepEqual(released, [], 'the same connection again releases nothing');
    assert.ok(routes.isCurrent('R(m/1)'));
    // A member opening connection after connection keeps one in the reserved room.
    for (let i = 2; i <= 5; i++) routes.note('m', `R(m/${i})`, routes.ticket());
    assert.deepEqual(released, ['R(m/1)', 'R(m/2)', 'R(m/3)', 'R(m/4)']);
    assert.ok(!routes.isCurrent('R(m/1)'));
    assert.ok(routes.isCurrent('R(m/5)'));
    routes.forget('m');
    assert.deepEqual(released.slice(-1), ['R(m/5)']);
    assert.ok(!routes.isCurrent('R(m/5)'));
  });

  it('a request answered late on an older connection does not take the route back from a newer one', () => {
    const released: string[] = [];
    const routes = new MemberRoutes(naming, () => true, (name) => released.push(name));
    const slow = routes.ticket(); // arrived first on m/1, answered last
    routes.note('m', 'R(m/2)', routes.ticket());
    routes.note('m', 'R(m/1)', slow);
    assert.ok(routes.isCurrent('R(m/2)'));
    assert.deepEqual(released, [], 'the newer connection\'s fragments are kept');
  });

  it('only a member\'s noted connection counts: not another with its node id, nor one of a node no longer a member', () => {
    const members = new Set(['m']);
    const routes = new MemberRoutes(naming, (id) => members.has(id), () => undefined);
    routes.note('m', 'R(m/1)', routes.ticket());
    assert.ok(!routes.isCurrent('R(m/guess)'));
    assert.ok(!routes.isCurrent('R(m)'));
    members.delete('m');
    assert.ok(!routes.isCurrent('R(m/1)'));
  });
});
