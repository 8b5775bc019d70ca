import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { RealtimePort } from '../../src/cluster/realtime-port';
import type { KuzzleRealtimeHost } from '../../src/plugin/kuzzle-realtime-host';
import type { KuzzleLike, PluginContextLike, SerializedRequest } from '../../src/plugin/kuzzle-types';
import { RealtimeGlue } from '../../src/plugin/realtime-glue';
import type { RoomRecord } from '../../src/state/realtime-store';

const ROOM: RoomRecord = { index: 'idx', collection: 'col', roomId: 'r1', filters: [] };

/** The glue over a port that records what it is asked (only the calls these tests make). */
function glue() {
  const calls: string[] = [];
  const event = (total: number) => ({ counted: Promise.resolve(total), done: Promise.resolve() });
  const port = {
    // Another subscriber in the room: events are told to the peers.
    enter: () => (calls.push('enter'), event(2)),
    leave: () => (calls.push('leave'), event(1)),
    subscribed: async () => void calls.push('subscribed'),
    forwardUser: async () => void calls.push('forwardUser'),
  } as Partial<RealtimePort> as RealtimePort;
  const host = { storedRoom: () => ROOM } as Partial<KuzzleRealtimeHost> as KuzzleRealtimeHost;
  // Neither is used on these paths.
  const realtime = new RealtimeGlue(port, host, {} as KuzzleLike, {} as PluginContextLike);
  const user = (scope: 'in' | 'out', propagate?: boolean) => {
    const request: SerializedRequest = { data: propagate === undefined ? {} : { propagate }, options: { connection: { id: 'conn-1' } } };
    return realtime.forwardUser({ room: ROOM.roomId, request, scope, content: { count: 1 } });
  };
  const subscribed = () => realtime.subscribed({ index: ROOM.index, collection: ROOM.collection, roomId: ROOM.roomId, connectionId: 'conn-1', filters: [] });
  return { calls, user, subscribed };
}

describe('RealtimeGlue: propagate: false', () => {
  it('a subscription that does not propagate is counted nowhere and told to no peer, nor is its leave', async () => {
    const { calls, user } = glue();
    await user('in', false);
    await user('out');
    assert.deepEqual(calls, []);
    // The next subscription of that connection to that room is the cluster's business again.
    await user('in');
    await user('out');
    assert.deepEqual(calls, ['enter', 'forwardUser', 'leave', 'forwardUser']);
  });

  it('the same connection subscribing to the room again with propagation: its leave is counted and told', async () => {
    const { calls, user, subscribed } = glue();
    await user('in', false);
    // Kuzzle sends no user notification for a connection already in the room, only subscribe:after.
    await subscribed();
    await user('out');
    assert.deepEqual(calls, ['subscribed', 'leave', 'forwardUser']);
  });
});
