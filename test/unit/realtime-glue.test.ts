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
  const user = (scope: 'in' | 'out', propagate?: unknown) => {
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

  it('propagate given as any value that is not truthy (a join does not normalise it) makes a local channel, as Kuzzle reads it', async () => {
    for (const propagate of [null, 0, '']) {
      const { calls, user } = glue();
      await user('in', propagate);
      await user('out');
      assert.deepEqual(calls, [], String(propagate));
    }
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

describe('RealtimeGlue: realtime:join of a room held elsewhere', () => {
  class BadRequestError extends Error {
    constructor(
      message: string,
      readonly id: string,
      readonly code: number,
    ) {
      super(message);
    }
  }

  /** `kuzzleRooms`: the rooms in Kuzzle's own list; `recorded`: those the node records subscribers of. */
  function joining(kuzzleRooms: string[] = [], recorded: string[] = []) {
    const created: string[] = [];
    const port = {
      hasLocalSubscribers: (roomId: string) => recorded.includes(roomId),
      prepareJoin: async (roomId: string) => ({ ...ROOM, roomId }),
    } as Partial<RealtimePort> as RealtimePort;
    const host = { createLocalRoom: async (_index: string, _collection: string, roomId: string) => void created.push(roomId) } as Partial<KuzzleRealtimeHost> as KuzzleRealtimeHost;
    const context = { errors: { BadRequestError } } as unknown as PluginContextLike;
    const kuzzle = {
      ask: async (event: string, roomId: string) => {
        assert.equal(event, 'core:realtime:room:size:get');
        if (!kuzzleRooms.includes(roomId)) throw Object.assign(new Error('room not found'), { id: 'core.realtime.room_not_found' });
        return 1;
      },
    } as unknown as KuzzleLike;
    const realtime = new RealtimeGlue(port, host, kuzzle, context);
    const join = (args: Record<string, unknown>) => realtime.ensureLocalRoom({ input: { body: { roomId: 'r1' }, args } } as unknown as Parameters<RealtimeGlue['ensureLocalRoom']>[0]);
    return { created, join };
  }

  it('creates the room here for valid channel arguments (defaults included)', async () => {
    const { created, join } = joining();
    await join({});
    await join({ scope: 'out', users: 'all' });
    assert.deepEqual(created, ['r1', 'r1']);
  });

  it("refuses a scope or users value Kuzzle's join would refuse, with Kuzzle's own error, before creating the room (Kuzzle could never remove it)", async () => {
    const { created, join } = joining();
    await assert.rejects(join({ scope: 'bogus' }), { id: 'core.realtime.invalid_scope', code: 65540, message: /Invalid value for the "scope" parameter/ });
    await assert.rejects(join({ users: null }), { id: 'core.realtime.invalid_users', code: 65541 });
    assert.deepEqual(created, []);
  });

  it("goes by Kuzzle's own room list: a room the node still records (its last leave waiting for the lock) but Kuzzle dropped is created again; one Kuzzle holds is not", async () => {
    const stale = joining([], ['r1']);
    await stale.join({});
    assert.deepEqual(stale.created, ['r1'], 'else Kuzzle would answer room_not_found');
    const held = joining(['r1'], []);
    await held.join({});
    assert.deepEqual(held.created, []);
  });
});
