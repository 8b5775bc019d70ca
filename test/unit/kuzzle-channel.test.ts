import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MessageBus } from '../../src/bus/message-bus';
import type { Handlers } from '../../src/bus/message-spec';
import { MemberChannel } from '../../src/cluster/member-channel';
import { KuzzleChannel } from '../../src/plugin/kuzzle-sync/kuzzle-channel';
import { KUZZLE_MESSAGES, type KuzzleMessages } from '../../src/plugin/kuzzle-sync/messages';
import { waitFor } from '../harness/wait';
import { MemoryNetwork } from '../support/memory-transport';

/** Handlers that apply nothing, but index additions and rights drops, which fail `failures` times first. */
function peerHandlers(applied: string[], failures: { left: number }): Handlers<KuzzleMessages> {
  const none = async (): Promise<Record<string, never>> => ({});
  const failing = async (what: string): Promise<Record<string, never>> => {
    if (failures.left-- > 0) throw new Error('Elasticsearch did not answer');
    applied.push(what);
    return {};
  };
  return {
    'kuzzle:index:add': (change) => failing(`index ${change.index}`),
    'kuzzle:index:remove': none,
    'kuzzle:index:snapshot': async () => ({ indexes: {} }),
    'kuzzle:security:invalidate': (change) => failing(`${change.kind} ${change.ids?.join(',') ?? ''}`),
    'kuzzle:token:revoke': none,
    'kuzzle:token:recheck': none,
    'kuzzle:token:refresh': none,
    'kuzzle:validation:reload': none,
    'kuzzle:strategy:add': () => undefined,
    'kuzzle:strategy:remove': () => undefined,
    'kuzzle:admin:dump': () => undefined,
    'kuzzle:admin:shutdown': () => undefined,
    'kuzzle:app:event': () => undefined,
  };
}

describe('KuzzleChannel', () => {
  it('a member that did not apply a change is asked again, alone, until it does; one that does not know the message is not; an index change is not (applied late, it could undo a later one)', async () => {
    const network = new MemoryNetwork();
    const ids = ['n1', 'n2', 'n3'];
    const buses = new Map(
      ids.map((id) => {
        const transport = network.transport(id);
        transport.setIncarnation(1);
        const bus = new MessageBus(transport, () => undefined);
        bus.setMemberGate((sender) => ids.includes(sender.id));
        return [id, { transport, bus }];
      }),
    );
    for (const a of ids) for (const b of ids) if (a !== b) buses.get(a)?.transport.connect(b);
    const applied: string[] = [];
    // n2 fails twice; n3 runs a build without these messages (it registers none).
    buses.get('n2')?.bus.register(KUZZLE_MESSAGES, peerHandlers(applied, { left: 2 }));
    const sender = buses.get('n1');
    assert.ok(sender);
    const logs: string[] = [];
    const channel = new KuzzleChannel((level, message) => logs.push(`${level}: ${message}`), { stateAckMs: 200, questionMs: 200, resendPausesMs: [5, 5, 5] });
    channel.bind(new MemberChannel(sender.bus.register(KUZZLE_MESSAGES, peerHandlers([], { left: 0 })), () => ['n2', 'n3']));

    await channel.send('kuzzle:index:add', { scope: 'public', index: 'orders' });
    await channel.send('kuzzle:security:invalidate', { kind: 'role', ids: ['editor'] });
    assert.deepEqual(applied, [], 'the first tries failed');
    await waitFor('n2 to apply the rights change when asked again', () => applied.length === 1);
    assert.deepEqual(applied, ['role editor']);
    const sent = (type: string): number => sender.transport.sent.filter((envelope) => envelope.type === type).length;
    assert.equal(sent('kuzzle:security:invalidate'), 3, 'n2 twice, n3 once');
    assert.equal(sent('kuzzle:index:add'), 2, 'once each');
    assert.equal(logs.filter((line) => line.includes('n3 did not apply')).length, 2, 'once per change');
    assert.ok(!logs.some((line) => line.startsWith('error:')), logs.join('\n'));
  });
});
