import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unhealthyReason } from '../../src/cluster/cluster-status';
import { StateAvailability } from '../../src/state/availability';
import { isTransientRedisError, RedisRetry } from '../../src/state/redis-retry';

describe('RedisRetry', () => {
  it('retries transient failures with a backoff and reports the degraded period', async () => {
    const availability = new StateAvailability();
    const retry = new RedisRetry({ maxMs: 2000, firstDelayMs: 5, maxDelayMs: 20 }, availability);
    let calls = 0;
    const value = await retry.run('addSubscriber', async () => {
      calls++;
      if (calls === 1) throw new Error('Connection is closed.');
      if (calls === 2) throw new Error('CLUSTERDOWN The cluster is down');
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(calls, 3);
    const stats = availability.stats();
    assert.equal(stats.periods, 1);
    assert.equal(stats.degradedSince, undefined);
    assert.ok((stats.lastPeriodMs ?? -1) >= 0);
    assert.equal(stats.retried, 1);
  });

  it('fails at once on an error that waiting cannot fix, and gives up at its bound', async () => {
    const retry = new RedisRetry({ maxMs: 50, firstDelayMs: 10, maxDelayMs: 10 });
    let calls = 0;
    await assert.rejects(
      retry.run('x', async () => {
        calls++;
        throw new Error('WRONGPASS invalid username-password pair');
      }),
      /WRONGPASS/,
    );
    assert.equal(calls, 1);
    await assert.rejects(retry.run('x', async () => Promise.reject(new Error('TRYAGAIN multiple keys'))), /TRYAGAIN/);
    assert.equal(retry.availability.stats().gaveUp, 1);
    assert.notEqual(retry.availability.stats().degradedSince, undefined, 'a given-up operation does not end the degraded period');
    assert.equal(await retry.run('x', async () => 1), 1);
    assert.equal(retry.availability.stats().degradedSince, undefined, 'a success ends it');
  });

  it('classifies errors', () => {
    for (const message of ['READONLY You can\'t write against a read only replica.', 'Too many Cluster redirections. Last error: Error: Connection is closed.', 'connect ECONNREFUSED 127.0.0.1:1']) {
      assert.ok(isTransientRedisError(new Error(message)), message);
    }
    for (const message of ['KPC_INVALID_COUNT: -1', 'NOAUTH Authentication required.', 'ERR syntax error']) {
      assert.ok(!isTransientRedisError(new Error(message)), message);
    }
  });
});

describe('health while the shared state is degraded', () => {
  const base = { ready: true, draining: false, peers: [], unacknowledgedBy: [], minimumNodes: 1, repair: { stateLosses: 0, drifts: 0, ghostsPurged: 0, gapRepairs: 0, indexRepairs: 0, entriesRestored: 0, staleEntriesRemoved: 0, stateUnreachable: 'Connection is closed.' }, catchUpError: undefined };
  it('stays healthy within the bound, 503 past it, naming how long', () => {
    const availability = new StateAvailability(() => 1000);
    availability.failed('state probe', new Error('Connection is closed.'));
    const sources = { ...base, redis: availability.stats(), unreachableBoundMs: 5000 };
    assert.equal(unhealthyReason(sources, 5999), undefined);
    assert.match(unhealthyReason(sources, 6000) ?? '', /^the shared state \(Redis\) is unreachable for 5000 ms \(see status: redis.degradedReason\)$/);
  });
});
