import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { waitFor } from '../harness/wait';
import { ensureCollection, fixtureAction, httpClient, portOf, Recorder, uniqueName, useFixturePlugin, useStack, wsClient } from './support/fixture';

type RoomList = Record<string, Record<string, Record<string, number>>>;

/**
 * A node that was only slow (here: frozen with SIGSTOP longer than the
 * heartbeat timeout) is evicted, then comes back: it must join again, write
 * its live subscriptions back, and be notified again; and apply what it
 * missed: an index created, a token refreshed through another node.
 */
useFixturePlugin();

describe('a frozen node is evicted, then rejoins with its subscriptions', () => {
  const stack = useStack({ nodes: 3, clusterOptions: { timers: { heartbeat: 250, heartbeatTimeout: 1500 } } });
  const index = uniqueName('frozen');
  const collection = 'c';
  /** Where node 1 gets its first room while node 3 is frozen: node 3 must send its changes there once back. */
  const lateCollection = 'late';
  const missedIndex = uniqueName('missed');
  let watcher: Kuzzle;
  let sleeper: Kuzzle;

  const members = async (node: number): Promise<number> =>
    (await stack().clusterStatus<{ members: number }>(node)).members;
  const unsentBy3 = async (): Promise<number> => (await stack().clusterStatus<{ changes: { unsent: number } }>(3)).changes.unsent;
  const countOn1 = async (roomId: string): Promise<number | undefined> =>
    ((await watcher.query({ controller: 'realtime', action: 'list' })) as { result: RoomList }).result[index]?.[collection]?.[roomId];

  // Node 3's clients outlast its freeze: the SDK drops a connection whose pings go unanswered for 2 to 4 s.
  const patient = { pingInterval: 60_000 };

  before(async () => {
    watcher = await wsClient(portOf(stack(), 1));
    sleeper = await wsClient(portOf(stack(), 3), patient);
    await ensureCollection(watcher, index, collection);
    await ensureCollection(watcher, index, lateCollection);
  });

  it('evicts it while frozen, takes it back when it wakes up, with what it missed', { timeout: 120_000 }, async () => {
    const recorder = new Recorder();
    const roomId = await sleeper.realtime.subscribe(index, collection, { equals: { wake: true } }, recorder.callback);
    await waitFor('the room counted on node 1', async () => (await countOn1(roomId)) === 1);
    // A user's subscription on node 3, with a token refreshed while node 3 is away.
    const user = uniqueName('frozen-user');
    await watcher.security.createUser(user, { content: { profileIds: ['default'] }, credentials: { local: { username: user, password: 'frozen-pw' } } }, { refresh: 'wait_for' });
    const userClient = await wsClient(portOf(stack(), 3), patient);
    const jwt = await userClient.auth.login('local', { username: user, password: 'frozen-pw' });
    const userRecorder = new Recorder();
    let newJwt = '';
    await userClient.realtime.subscribe(index, collection, { equals: { wake: true } }, userRecorder.callback);
    // Node 3 learns which collections its peers listen to: none listens to the late collection yet, so its changes there go nowhere.
    await waitFor('node 3 to know its peers do not listen to the late collection', async () => {
      const before = await unsentBy3();
      await sleeper.realtime.publish(index, lateCollection, { early: true });
      return (await unsentBy3()) > before;
    });
    const lateRecorder = new Recorder();

    stack().node(3).freeze();
    try {
      await waitFor('node 3 evicted by node 1', async () => (await members(1)) === 2, { timeoutMs: 10_000 });
      await waitFor('node 3 subscriptions purged', async () => (await countOn1(roomId)) === undefined, { timeoutMs: 10_000 });
      // Created while node 3 cannot hear about it: it must catch up when it comes back.
      await watcher.index.create(missedIndex);
      await watcher.collection.create(missedIndex, 'c', {});
      const refresher = await httpClient(portOf(stack(), 1));
      refresher.jwt = jwt;
      newJwt = ((await refresher.auth.refreshToken({ expiresIn: '2h' })) as { jwt: string }).jwt;
      // Node 1's first room there, announced to node 2 only: node 1 evicted node 3, which did not evict node 1.
      await watcher.realtime.subscribe(index, lateCollection, {}, lateRecorder.callback);
    } finally {
      stack().node(3).thaw();
    }

    await waitFor('node 3 back in the cluster', async () => (await members(1)) === 3 && (await members(3)) === 3, { timeoutMs: 15_000 });
    // Node 3 reports when it has rejoined and written its subscriptions back.
    await waitFor('node 3 rejoined and resynced', async () => {
      const status = await stack().clusterStatus<{ node: { rejoins: number; resyncing: boolean } }>(3);
      return status.node.rejoins >= 1 && !status.node.resyncing;
    }, { timeoutMs: 15_000 });
    assert.equal(await countOn1(roomId), 2, 'its subscriptions written back, the user\'s kept although its old token is gone');
    // Its catch-up filed the user's connection under the new token: dropped at that one's expiry, not the old one's.
    const entries = (await fixtureAction(sleeper, 'tokenEntries', { userId: user })) as Array<{ jwt: string }>;
    assert.deepEqual(entries.map((entry) => entry.jwt), [newJwt]);
    await watcher.realtime.publish(index, collection, { wake: true });
    await recorder.waitCount(1);
    await userRecorder.waitCount(1);
    assert.equal(recorder.items.length, 1);
    assert.ok(await sleeper.document.create(missedIndex, 'c', { caughtUp: true }), 'node 3 knows the index created while it was away');
    // What node 3 knew of node 1's collections before its freeze is out of date: it must not go by it.
    await sleeper.realtime.publish(index, lateCollection, { late: true });
    await lateRecorder.waitCount(1);
    assert.deepEqual(lateRecorder.items.map((item) => (item as { result: { _source: { late?: boolean } } }).result._source.late), [true]);
  });

  it('after a flush of the token store, a token made since and revoked while the node was frozen stops its subscriptions there once it rejoins', { timeout: 120_000 }, async () => {
    const flushCollection = 'flush';
    await ensureCollection(watcher, index, flushCollection);
    const lossesSeenBy3 = (): number => (readFileSync(stack().node(3).logFile, 'utf8').match(/token store lost its data/g) ?? []).length;
    const lossesBefore = lossesSeenBy3();
    // Kuzzle's own mark of its token store (token/bootstrap) goes with the flush and stays gone until a restart.
    await watcher.query({ controller: 'admin', action: 'resetCache', database: 'internalCache' });
    await waitFor('node 3 to see the token store lose its data', () => lossesSeenBy3() > lossesBefore, { timeoutMs: 30_000 });
    const user = uniqueName('flushed-user');
    await watcher.security.createUser(user, { content: { profileIds: ['default'] }, credentials: { local: { username: user, password: 'flush-pw' } } }, { refresh: 'wait_for' });
    const userClient = await wsClient(portOf(stack(), 3), patient);
    const jwt = await userClient.auth.login('local', { username: user, password: 'flush-pw' });
    const userRecorder = new Recorder();
    await userClient.realtime.subscribe(index, flushCollection, {}, userRecorder.callback);
    // An anonymous subscriber on node 3 tells when a notification was delivered there.
    const sentinel = new Recorder();
    await sleeper.realtime.subscribe(index, flushCollection, {}, sentinel.callback);
    const rejoinsBefore = (await stack().clusterStatus<{ node: { rejoins: number } }>(3)).node.rejoins;

    stack().node(3).freeze();
    try {
      await waitFor('node 3 evicted by node 1', async () => (await members(1)) === 2, { timeoutMs: 10_000 });
      const other = await httpClient(portOf(stack(), 1));
      other.jwt = jwt;
      await other.auth.logout();
    } finally {
      stack().node(3).thaw();
    }

    await waitFor('node 3 rejoined and caught up', async () => {
      const status = await stack().clusterStatus<{ members: number; node: { rejoins: number; resyncing: boolean } }>(3);
      return status.members === 3 && status.node.rejoins > rejoinsBefore && !status.node.resyncing;
    }, { timeoutMs: 15_000 });
    await waitFor('the revoked token dropped on node 3 by its catch-up', async () => {
      const entries = (await fixtureAction(sleeper, 'tokenEntries', { userId: user })) as unknown[];
      return entries.length === 0;
    }, { timeoutMs: 15_000 });
    await watcher.document.create(index, flushCollection, { after: 'flush' });
    await sentinel.waitCount(1);
    assert.equal(userRecorder.items.length, 0, 'no notification for a token revoked while node 3 was away');
  });
});
