import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { RealtimePort } from '../../src/cluster/realtime-port';
import type { KuzzleRealtimeHost } from '../../src/plugin/kuzzle-realtime-host';
import type { KuzzleLike, PluginContextLike, SerializedRequest } from '../../src/plugin/kuzzle-types';
import { RealtimeGlue } from '../../src/plugin/realtime-glue';
import { answerRealtimeQueries } from '../../src/plugin/realtime-queries';
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

describe('RealtimeGlue: realtime:count, list and join, answered in front of Kuzzle (API and embedded SDK alike)', () => {
  class BadRequestError extends Error {
    constructor(
      message: string,
      readonly id: string,
      readonly code: number,
    ) {
      super(message);
    }
  }

  const notFound = () => Object.assign(new Error('room not found'), { id: 'core.realtime.room_not_found' });

  /**
   * The glue in front of a Kuzzle double's answerers. `kuzzleRooms`: the
   * rooms (and their local counts) in Kuzzle's own list; `recorded`: those
   * the node records subscribers of; `cluster`: the cluster-wide counts
   * (`Error`: the shared state does not answer).
   */
  function queries(options: { kuzzleRooms?: Record<string, number>; recorded?: string[]; cluster?: Record<string, number> | Error } = {}) {
    const { kuzzleRooms = {}, recorded = [], cluster = {} } = options;
    const created: string[] = [];
    const joined: string[] = [];
    const warnings: string[] = [];
    const port = {
      hasLocalSubscribers: (roomId: string) => recorded.includes(roomId),
      prepareJoin: async (roomId: string) => ({ ...ROOM, roomId }),
      countRoom: async (roomId: string) => {
        if (cluster instanceof Error) throw cluster;
        return cluster[roomId];
      },
      listRooms: async () => {
        if (cluster instanceof Error) throw cluster;
        return { idx: { col: cluster } };
      },
    } as Partial<RealtimePort> as RealtimePort;
    const host = { createLocalRoom: async (_index: string, _collection: string, roomId: string) => void created.push(roomId) } as Partial<KuzzleRealtimeHost> as KuzzleRealtimeHost;
    const context = {
      errors: { BadRequestError },
      log: { warn: (message: string) => void warnings.push(message) },
      constructors: { Request: (data: Record<string, unknown>) => data },
    } as unknown as PluginContextLike;
    const answerers = new Map<string, (...args: never[]) => unknown>([
      // Kuzzle's getRoomSize answers at once, or throws.
      ['core:realtime:room:size:get', (roomId: string) => {
        const size = kuzzleRooms[roomId];
        if (size === undefined) throw notFound();
        return size;
      }],
      ['core:realtime:list', async () => ({ local: true })],
      ['core:realtime:join', async (request: { input: { body: { roomId: string } } }) => void joined.push(request.input.body.roomId)],
    ]);
    const kuzzle = { coreAnswerers: answerers } as unknown as KuzzleLike;
    answerRealtimeQueries(kuzzle, new RealtimeGlue(port, host, kuzzle, context));
    const ask = (event: string, ...args: unknown[]): Promise<unknown> => Promise.resolve((answerers.get(event) as (...a: unknown[]) => unknown)(...args));
    const join = (args: Record<string, unknown>) => ask('core:realtime:join', { input: { body: { roomId: 'r1' }, args } });
    return { created, joined, warnings, ask, join };
  }

  it('join: creates the room here for valid channel arguments (defaults included), then Kuzzle joins it', async () => {
    const { created, joined, join } = queries();
    await join({});
    await join({ scope: 'out', users: 'all' });
    assert.deepEqual(created, ['r1', 'r1']);
    assert.deepEqual(joined, ['r1', 'r1']);
  });

  it("join: refuses a scope or users value Kuzzle's join would refuse, with Kuzzle's own error, before creating the room (Kuzzle could never remove it)", async () => {
    const { created, join } = queries();
    await assert.rejects(join({ scope: 'bogus' }), { id: 'core.realtime.invalid_scope', code: 65540, message: /Invalid value for the "scope" parameter/ });
    await assert.rejects(join({ users: null }), { id: 'core.realtime.invalid_users', code: 65541 });
    assert.deepEqual(created, []);
  });

  it("join: goes by Kuzzle's own room list: a room the node still records (its last leave waiting for the lock) but Kuzzle dropped is created again; one Kuzzle holds is not", async () => {
    const stale = queries({ recorded: ['r1'] });
    await stale.join({});
    assert.deepEqual(stale.created, ['r1'], 'else Kuzzle would answer room_not_found');
    const held = queries({ kuzzleRooms: { r1: 1 } });
    await held.join({});
    assert.deepEqual(held.created, []);
  });

  it("count: the cluster-wide count; Kuzzle's own for a room the cluster does not know (room_not_found if Kuzzle does not either), or when the shared state does not answer", async () => {
    const { ask } = queries({ kuzzleRooms: { local: 2, both: 1 }, cluster: { both: 5, remote: 3 } });
    assert.equal(await ask('core:realtime:room:size:get', 'both'), 5);
    assert.equal(await ask('core:realtime:room:size:get', 'remote'), 3);
    assert.equal(await ask('core:realtime:room:size:get', 'local'), 2);
    await assert.rejects(ask('core:realtime:room:size:get', 'nowhere'), { id: 'core.realtime.room_not_found' });
    const down = queries({ kuzzleRooms: { both: 1 }, cluster: new Error('Redis down') });
    assert.equal(await down.ask('core:realtime:room:size:get', 'both'), 1);
    assert.match(down.warnings.join('\n'), /own count: the shared state did not answer \(Redis down\)/);
  });

  it("list: the cluster's rooms the caller may see; Kuzzle's own when the shared state does not answer, or without a user", async () => {
    const user = { _id: 'u', isActionAllowed: async () => true };
    const listed = (await queries({ cluster: { r1: 4 } }).ask('core:realtime:list', user)) as Record<string, unknown>;
    assert.deepEqual(listed, { idx: { col: { r1: 4 } } });
    assert.equal(Object.getPrototypeOf(listed), Object.prototype, 'plain objects, as Kuzzle lists (the embedded SDK hands them to plugin code)');
    const odd = JSON.parse('{"__proto__": {"col": 1}}') as Record<string, number>;
    const tricky = (await queries({ cluster: odd }).ask('core:realtime:list', user)) as { idx: { col: Record<string, unknown> } };
    assert.deepEqual(Object.keys(tricky.idx.col), ['__proto__'], 'a "__proto__" key stays a key');
    const down = queries({ cluster: new Error('Redis down') });
    assert.deepEqual(await down.ask('core:realtime:list', user), { local: true });
    assert.equal(down.warnings.length, 1);
    assert.deepEqual(await queries({ cluster: { r1: 4 } }).ask('core:realtime:list', null), { local: true });
  });
});
