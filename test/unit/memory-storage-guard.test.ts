import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemoryStorageGuard, refusalOf, withoutPluginKeys } from '../../src/plugin/memory-storage-guard';
import { keyPrefixesOf, MARK_SETTLE_MS, probeRound, PROBE_AGAIN_MS, ROUND_TIMEOUT_MS, ROUNDS_APART, SharingWatch } from '../../src/plugin/memory-storage-probe';
import type { StateMark } from '../../src/state/shared-state';
import type { Scheduler } from '../../src/util/scheduler';
import { waitFor } from '../harness/wait';

type Answerer = (...args: never[]) => unknown;

class Forbidden extends Error {}

/** Kuzzle's public-cache answerers over a small key space, recording what reached them. */
function setup(keys: string[] = ['user:a', 'kpc:kuzzle:{kpc:kuzzle}:collections', 'user:b']) {
  const reached: unknown[][] = [];
  let draws = 0;
  const answer = (command: string, ...args: unknown[]): unknown => {
    reached.push([command, ...args]);
    if (command === 'keys') return keys;
    if (command === 'scan') return ['0', keys];
    if (command === 'randomkey') return keys[draws++ % keys.length];
    return 'OK';
  };
  const answerers = new Map<string, Answerer>([
    ['core:cache:public:execute', answer as Answerer],
    ['core:cache:public:mExecute', ((commands: unknown[][]) => commands.map((command) => [null, answer(String(command[0]), ...command.slice(1))])) as Answerer],
    ...['del', 'get', 'store', 'expire', 'persist'].map((name): [string, Answerer] => [`core:cache:public:${name}`, ((...args: unknown[]) => answer(name, ...args)) as Answerer]),
  ]);
  const guard = new MemoryStorageGuard((message) => new Forbidden(message));
  const raw = guard.install(answerers);
  const ask = (name: string, ...args: unknown[]): Promise<unknown> => Promise.resolve((answerers.get(name) as (...a: unknown[]) => unknown)(...args));
  return { guard, raw, ask, reached };
}

describe('memoryStorage guard: the rules', () => {
  it('refuses a plugin key in any argument, nested or not, and nothing else', () => {
    assert.match(refusalOf('del', [['user:a', 'kpc:kuzzle:{kpc:kuzzle}:roomIndex']]) ?? '', /keys starting with "kpc:" or "kpc\/" are the cluster's/);
    assert.ok(refusalOf('rename', ['user:a', 'kpc:other:x']));
    assert.ok(refusalOf('mset', [['k', 'v', 'kpc:x', 'v']]));
    assert.ok(refusalOf('store', ['kpc:x', 'v', { ttl: 5 }]));
    assert.equal(refusalOf('set', ['user:kpc:x', 'a kpc: value']), undefined);
    assert.equal(refusalOf('keys', ['*']), undefined);
    assert.equal(refusalOf('dbsize', []), undefined);
  });

  it('refuses sort patterns that read other keys, not those that cannot', () => {
    assert.ok(refusalOf('sort', ['list', 'BY', 'k*']));
    assert.ok(refusalOf('sort', ['list', 'ALPHA', 'GET', '#', 'GET', 'weight_*->f']));
    assert.ok(refusalOf('SORT', ['list', 'get', '*']));
    assert.equal(refusalOf('sort', ['list', 'BY', 'nosort', 'GET', '#', 'LIMIT', 0, 10]), undefined);
    // A key named like an option is the key, not the option.
    assert.equal(refusalOf('sort', ['BY', 'ASC']), undefined);
    assert.equal(refusalOf('lrange', ['list', 'GET', '*']), undefined);
  });

  it('looks at the arguments as Redis gets them: nested arrays spread, objects and Maps as keys and values, Buffers as bytes', () => {
    // Kuzzle passes sort's `store` as given: an array there adds options after STORE.
    assert.ok(refusalOf('sort', ['list', 'ALPHA', 'STORE', ['dst', 'GET', 'k*']]));
    assert.ok(refusalOf('sort', ['list', 'STORE', ['dst', 'BY', 'w_*']]));
    assert.ok(refusalOf('sort_ro', ['list', 'GET', '*']));
    assert.ok(refusalOf('mset', [{ 'kpc:x': 'v' }]));
    assert.ok(refusalOf('mset', [new Map([['kpc:x', 'v']])]));
    assert.ok(refusalOf('del', [[Buffer.from('kpc:x')]]));
    // A plugin may hand ioredis objects it sends as String(value).
    assert.ok(refusalOf('del', [new String('kpc:x')]));
    assert.ok(refusalOf('del', [{ toString: () => 'x' }, new (class Key { toString = () => 'kpc:x' })()]));
    // The plugin's token-refresh records in Kuzzle's internalCache.
    assert.ok(refusalOf('get', ['kpc/token-refresh/abc']));
    assert.equal(refusalOf('set', ['k', 12]), undefined);
    assert.match(refusalOf('del', ['kpc:x'], 'it may share') ?? '', /^it may share: keys starting/);
  });

  it('takes the plugin\'s key names out of keys, scan and randomkey', () => {
    assert.deepEqual(withoutPluginKeys('keys', ['a', 'kpc:x', 'b']), { result: ['a', 'b'], hidden: 1 });
    assert.deepEqual(withoutPluginKeys('scan', ['17', ['kpc:x', 'kpc:y', 'a']]), { result: ['17', ['a']], hidden: 2 });
    assert.deepEqual(withoutPluginKeys('randomkey', 'kpc:x'), { result: null, hidden: 1 });
    assert.deepEqual(withoutPluginKeys('get', 'kpc:x'), { result: 'kpc:x', hidden: 0 });
  });
});

describe('memoryStorage guard: in front of Kuzzle\'s asks', () => {
  it('refuses before Kuzzle is reached while sharing is not known, and counts', async () => {
    const { guard, ask, reached } = setup();
    await assert.rejects(ask('core:cache:public:execute', 'del', ['kpc:kuzzle:{kpc:kuzzle}:collections']), Forbidden);
    await assert.rejects(ask('core:cache:public:del', ['user:a', 'kpc:x']), Forbidden);
    await assert.rejects(ask('core:cache:public:store', 'kpc:x', 'planted', {}), Forbidden);
    assert.equal(reached.length, 0);
    assert.equal(await ask('core:cache:public:get', 'user:a'), 'OK');
    assert.deepEqual(guard.stats(), { sharesRedis: 'unknown', guarded: true, refused: 3, hidden: 0 });
  });

  it('hides the plugin\'s keys from results, and draws randomkey again', async () => {
    const { guard, ask } = setup();
    guard.settle(true);
    assert.deepEqual(await ask('core:cache:public:execute', 'keys', '*'), ['user:a', 'user:b']);
    assert.deepEqual(await ask('core:cache:public:execute', 'scan', 0), ['0', ['user:a', 'user:b']]);
    assert.equal(await ask('core:cache:public:execute', 'randomkey'), 'user:a');
    assert.equal(await ask('core:cache:public:execute', 'randomkey'), 'user:b', 'the plugin key drawn second is drawn again');
    assert.deepEqual(guard.stats(), { sharesRedis: 'yes', guarded: true, refused: 0, hidden: 2 });
  });

  it('answers null when randomkey keeps drawing the plugin\'s keys', async () => {
    const { ask, reached } = setup(['kpc:only']);
    assert.equal(await ask('core:cache:public:execute', 'randomkey'), null);
    assert.ok(reached.length > 1);
  });

  it('says how sure it is that the database is shared', async () => {
    const { guard, ask } = setup();
    await assert.rejects(ask('core:cache:public:get', 'kpc:x'), /may share its Redis database with the cluster plugin \(not known yet/);
    guard.settle(true);
    await assert.rejects(ask('core:cache:public:get', 'kpc:x'), /^Error: memoryStorage shares its Redis database/);
  });

  it('refuses a whole transaction when one of its commands names a plugin key, and filters the results of one that runs', async () => {
    const { ask, reached } = setup();
    await assert.rejects(ask('core:cache:public:mExecute', [['set', 'user:a', '1'], ['del', 'kpc:x']]), Forbidden);
    await assert.rejects(ask('core:cache:public:mExecute', [['sort', 'list', 'STORE', ['d', 'GET', 'k*']]]), Forbidden);
    assert.equal(reached.length, 0, 'not even the first command ran');
    assert.deepEqual(await ask('core:cache:public:mExecute', [['set', 'user:a', '1'], ['keys', '*']]), [[null, 'OK'], [null, ['user:a', 'user:b']]]);
  });

  it('lets everything through once the databases are known to differ, as one Kuzzle does', async () => {
    const { guard, ask } = setup();
    guard.settle(false);
    assert.equal(await ask('core:cache:public:execute', 'del', 'kpc:mine'), 'OK');
    assert.deepEqual(await ask('core:cache:public:execute', 'keys', '*'), ['user:a', 'kpc:kuzzle:{kpc:kuzzle}:collections', 'user:b']);
    assert.equal(await ask('core:cache:public:execute', 'sort', 'list', 'GET', '*'), 'OK');
    assert.deepEqual(guard.stats(), { sharesRedis: 'no', guarded: false, refused: 0, hidden: 0 });
  });

  it('keeps the guard when a probe failed, and for good once the sharing was seen', () => {
    const { guard } = setup();
    guard.settle(false);
    guard.settle(undefined);
    assert.equal(guard.stats().guarded, true);
    guard.settle(true);
    guard.settle(false);
    guard.settle(undefined);
    assert.deepEqual(guard.stats(), { sharesRedis: 'yes', guarded: true, refused: 0, hidden: 0 });
  });

  it('gives the probe Kuzzle\'s own execute, which reads the plugin\'s keys', async () => {
    const { raw, reached } = setup();
    assert.equal(await raw('hexists', 'kpc:kuzzle:{kpc:kuzzle:nodes}:cards', 'n1'), 'OK');
    assert.deepEqual(reached, [['hexists', 'kpc:kuzzle:{kpc:kuzzle:nodes}:cards', 'n1']]);
  });

  it('refuses to start on a Kuzzle without the asks it guards', () => {
    const guard = new MemoryStorageGuard((message) => new Forbidden(message));
    assert.throws(() => guard.install(new Map()), /no core:cache:public:execute answerer/);
  });
});

describe('memoryStorage probe: does Kuzzle\'s memoryStorage read the value the plugin wrote?', () => {
  const KEY = 'kpc:prod:{kpc:prod:nodes}:mark:node-1';
  /**
   * The plugin's database as its own client sees it, and memoryStorage's
   * client: on the same database or another one; its `SET … XX GET` answers
   * the value there was and writes only over an existing key.
   */
  const setup = (shared: boolean) => {
    const db = new Map<string, string>();
    const other = new Map<string, string>();
    const mark: StateMark = { key: KEY, write: async (value) => void db.set(KEY, value), read: async () => db.get(KEY) ?? null };
    const asked: unknown[][] = [];
    const execute = async (command: string, ...args: unknown[]): Promise<unknown> => {
      asked.push([command, ...args]);
      assert.deepEqual([command, ...args.slice(2)], ['set', 'XX', 'GET', 'KEEPTTL'], 'a write, so that the master answers');
      const seen = shared ? db : other;
      const before = seen.get(String(args[0])) ?? null;
      if (before !== null) seen.set(String(args[0]), String(args[1]));
      return before;
    };
    return { db, other, mark, execute, asked };
  };
  const now = async (): Promise<void> => undefined;

  it('counts as shared when memoryStorage reads the random value the plugin just wrote, as apart when the plugin reads it before and after and memoryStorage does not', async () => {
    const shared = setup(true);
    assert.deepEqual(await probeRound(shared.execute, shared.mark, now), { shares: true });
    assert.equal(shared.asked.length, 1);
    assert.equal(shared.asked[0]?.[1], KEY);
    assert.equal(shared.asked[0]?.[2], shared.db.get(KEY), 'the value it wrote back is the plugin\'s own');
    const apart = setup(false);
    assert.deepEqual(await probeRound(apart.execute, apart.mark, now), { shares: false });
    assert.equal(apart.other.size, 0, 'nothing written in memoryStorage\'s own database');
  });

  it('cannot be fooled by a value planted where memoryStorage reads: only the random value of this round counts', async () => {
    const apart = setup(false);
    apart.other.set(KEY, 'planted');
    assert.deepEqual(await probeRound(apart.execute, apart.mark, now), { shares: false });
  });

  it('cannot tell when the mark was lost meanwhile (a flush, a failover), nor on an error', async () => {
    const shared = setup(true);
    assert.deepEqual(await probeRound(shared.execute, shared.mark, async () => void shared.db.clear()), { unknown: 'the mark was lost before memoryStorage read it' });
    const flushedDuringRead = setup(true);
    const execute = async (command: string, ...args: unknown[]): Promise<unknown> => {
      flushedDuringRead.db.clear();
      return flushedDuringRead.execute(command, ...args);
    };
    assert.deepEqual(await probeRound(execute, flushedDuringRead.mark, now), { unknown: 'the mark was lost while memoryStorage read it' });
    const failing = setup(true);
    assert.deepEqual(await probeRound(async () => Promise.reject(new Error('READONLY You can\'t write against a read only replica.')), failing.mark, now), {
      unknown: 'READONLY You can\'t write against a read only replica.',
    });
  });

  it('reads memoryStorage\'s key prefix where ioredis takes it (options on one server, clusterOptions on a Redis Cluster)', () => {
    assert.deepEqual(keyPrefixesOf({ node: {}, options: { keyPrefix: 'app:' }, clusterOptions: { keyPrefix: 'ms:' } }), ['app:']);
    assert.deepEqual(keyPrefixesOf({ nodes: [{}], options: { keyPrefix: 'app:' }, clusterOptions: { keyPrefix: 'ms:' } }), ['ms:']);
    assert.deepEqual(keyPrefixesOf({ nodes: [{}], options: { keyPrefix: 'app:' } }), []);
    assert.deepEqual(keyPrefixesOf({ nodes: [{}], clusterOptions: { redisOptions: { keyPrefix: 'node:' } } }), ['node:'], 'ioredis\' Cluster takes its nodes\' prefix');
    assert.deepEqual(keyPrefixesOf({ nodes: [{}], clusterOptions: { keyPrefix: 'ms:', redisOptions: { keyPrefix: 'node:' } } }), ['ms:']);
    assert.deepEqual(keyPrefixesOf({ options: { keyPrefix: '' } }), []);
    assert.deepEqual(keyPrefixesOf(undefined), []);
  });

  /** A scheduler whose one-off tasks run when the test says, with their delays. */
  const manualScheduler = () => {
    const due: Array<{ ms: number; run: () => void; cancelled: () => boolean }> = [];
    const scheduler: Scheduler = {
      every: () => () => undefined,
      after: (ms, task) => {
        let cancelled = false;
        due.push({ ms, run: () => !cancelled && task(), cancelled: () => cancelled });
        return () => {
          cancelled = true;
        };
      },
    };
    /** Runs the next live task of this delay once it is scheduled (round timeouts are left pending or dropped once cancelled). */
    const next = async (ms: number): Promise<void> => {
      const live = () => due.findIndex((task) => task.ms === ms && !task.cancelled());
      await waitFor(`a task in ${ms} ms`, () => live() >= 0);
      const [task] = due.splice(live(), 1);
      task?.run();
    };
    const pending = (ms: number): number => due.filter((task) => task.ms === ms && !task.cancelled()).length;
    return { scheduler, next, pending };
  };

  const watchOf = (execute: (command: string, ...args: unknown[]) => Promise<unknown>, mark: StateMark) => {
    const guard = new MemoryStorageGuard((message) => new Forbidden(message));
    const logs: string[] = [];
    const clock = manualScheduler();
    const watch = new SharingWatch(guard, execute, mark, [], (level, message) => logs.push(`${level}: ${message}`), clock.scheduler);
    return { guard, logs, watch, ...clock };
  };

  it('turns the guard off only after rounds in a row see the databases apart, then still looks every minute and only the sight of the mark turns it back on', async () => {
    const apart = setup(false);
    let failNext = false;
    let shareNext = false;
    const execute = async (command: string, ...args: unknown[]): Promise<unknown> => {
      if (failNext) return Promise.reject(new Error('Connection is closed.'));
      if (shareNext) return args[1];
      return apart.execute(command, ...args);
    };
    const { guard, logs, watch, next } = watchOf(execute, apart.mark);
    const started = watch.start();
    for (let round = 1; round <= ROUNDS_APART; round++) {
      assert.equal(guard.stats().guarded, true, `still guarded before round ${round} ends`);
      await next(MARK_SETTLE_MS);
    }
    await started;
    assert.deepEqual(guard.stats(), { sharesRedis: 'no', guarded: false, refused: 0, hidden: 0 });
    assert.deepEqual(logs, ['info: memoryStorage has a Redis database of its own: ms:* commands are not checked']);
    // An error after that changes nothing.
    failNext = true;
    await next(PROBE_AGAIN_MS);
    await next(MARK_SETTLE_MS);
    await next(PROBE_AGAIN_MS);
    assert.equal(guard.stats().sharesRedis, 'no');
    // The sight of the mark does (the conclusion was wrong).
    failNext = false;
    shareNext = true;
    await next(MARK_SETTLE_MS);
    await waitFor('the sharing seen', () => guard.knownShared);
    watch.stop();
  });

  it('starts the count again after a round that cannot tell, a minute later, and stops at the first sight of the sharing', async () => {
    const shared = setup(true);
    const apart = setup(false);
    // apart, apart, cannot tell, apart, apart, then shared: never three apart in a row.
    const answers = ['apart', 'apart', 'fail', 'apart', 'apart', 'shared'];
    const execute = async (command: string, ...args: unknown[]): Promise<unknown> => {
      const answer = answers.shift();
      if (answer === 'fail') return Promise.reject(new Error('Connection is closed.'));
      return (answer === 'shared' ? shared : apart).execute(command, ...args);
    };
    const mark: StateMark = { key: KEY, write: async (value) => void (shared.db.set(KEY, value), apart.db.set(KEY, value)), read: async () => shared.db.get(KEY) ?? null };
    const { guard, logs, watch, next, pending } = watchOf(execute, mark);
    void watch.start();
    await next(MARK_SETTLE_MS);
    await next(MARK_SETTLE_MS);
    await next(MARK_SETTLE_MS);
    await next(PROBE_AGAIN_MS);
    assert.equal(guard.stats().sharesRedis, 'unknown', 'the count started again');
    await next(MARK_SETTLE_MS);
    await next(MARK_SETTLE_MS);
    await next(MARK_SETTLE_MS);
    await waitFor('the sharing seen', () => guard.knownShared);
    assert.equal(pending(PROBE_AGAIN_MS) + pending(MARK_SETTLE_MS), 0, 'no more rounds');
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.match(logs[0] ?? '', /^warn: could not tell whether memoryStorage shares .*Connection is closed.*stay checked/);
    assert.match(logs[1] ?? '', /^info: memoryStorage shares the plugin's Redis database/);
  });

  it('gives a round that gets no answer up, and asks again a minute later', async () => {
    const shared = setup(true);
    const { guard, logs, watch, next, pending } = watchOf(() => new Promise(() => undefined), shared.mark);
    void watch.start();
    await next(MARK_SETTLE_MS);
    await next(ROUND_TIMEOUT_MS);
    await waitFor('the round given up', () => pending(PROBE_AGAIN_MS) === 1);
    assert.equal(guard.stats().guarded, true);
    assert.match(logs.join('\n'), /no answer within 10 s/);
    watch.stop();
  });

  it('does not ask with a key prefix: the guard stays on, checking arguments with the prefix added', async () => {
    const shared = setup(true);
    const guard = new MemoryStorageGuard((message) => new Forbidden(message), ['k']);
    const logs: string[] = [];
    await new SharingWatch(guard, shared.execute, shared.mark, ['k'], (level, message) => logs.push(`${level}: ${message}`), manualScheduler().scheduler).start();
    assert.deepEqual(shared.asked, []);
    assert.match(logs.join('\n'), /^warn: memoryStorage adds a key prefix \("k"\)/);
    assert.equal(guard.stats().guarded, true);
    assert.ok(refusalOf('del', ['pc:kuzzle:x'], 'shared', ['k']), 'pc:… is kpc:… once prefixed');
  });

  it('stops when stopped, even during a round: its outcome is not taken and nothing more is scheduled', async () => {
    const apart = setup(false);
    const { guard, watch, pending } = watchOf(apart.execute, apart.mark);
    const started = watch.start();
    await waitFor('the round waiting for the mark to settle', () => pending(MARK_SETTLE_MS) === 1);
    watch.stop();
    await started;
    assert.equal(guard.stats().sharesRedis, 'unknown', 'the round ended by the stop is not taken');
    assert.equal(pending(MARK_SETTLE_MS) + pending(PROBE_AGAIN_MS), 0);
  });
});
