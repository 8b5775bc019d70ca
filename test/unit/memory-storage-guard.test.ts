import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemoryStorageGuard, refusalOf, withoutPluginKeys } from '../../src/plugin/memory-storage-guard';
import { keyPrefixOf, probeMemoryStorage, SharingWatch } from '../../src/plugin/memory-storage-probe';
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
    assert.match(refusalOf('del', [['user:a', 'kpc:kuzzle:{kpc:kuzzle}:roomIndex']]) ?? '', /keys starting with "kpc:" are the cluster's/);
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

describe('memoryStorage probe: does Kuzzle\'s memoryStorage see this node\'s card?', () => {
  const target = { clusterName: 'prod', nodeId: 'node-1', keyPrefix: undefined };

  it('asks for this node\'s card in the cards hash of its cluster', async () => {
    const asked: unknown[][] = [];
    const outcome = await probeMemoryStorage(async (...args) => {
      asked.push(args);
      return 1;
    }, target);
    assert.deepEqual(outcome, { shares: true });
    assert.deepEqual(asked, [['hexists', 'kpc:prod:{kpc:prod:nodes}:cards', 'node-1']]);
    assert.deepEqual(await probeMemoryStorage(async () => 0, target), { shares: false });
  });

  it('cannot tell on an error (an ACL refusal included: names may still be listed), nor behind a key prefix', async () => {
    const refused = await probeMemoryStorage(async () => Promise.reject(new Error('NOPERM this user has no permissions to access one of the keys used as arguments')), target);
    assert.deepEqual(refused, { unknown: 'NOPERM this user has no permissions to access one of the keys used as arguments' });
    let asked = false;
    const prefixed = await probeMemoryStorage(async () => {
      asked = true;
      return 0;
    }, { ...target, keyPrefix: 'app:' });
    assert.match('unknown' in prefixed ? prefixed.unknown : '', /keyPrefix \("app:"\)/);
    assert.equal(asked, false);
    assert.equal(keyPrefixOf({ options: { keyPrefix: 'app:' } }), 'app:');
    assert.equal(keyPrefixOf({ options: { keyPrefix: '' } }), undefined);
    assert.equal(keyPrefixOf(undefined), undefined);
  });

  /** A scheduler whose one-off tasks run when the test says. */
  const manualScheduler = () => {
    const due: Array<() => void> = [];
    const scheduler: Scheduler = {
      every: () => () => undefined,
      after: (_ms, task) => {
        let cancelled = false;
        due.push(() => !cancelled && task());
        return () => {
          cancelled = true;
        };
      },
    };
    return { scheduler, due };
  };

  it('asks again every period until the sharing is seen, then stops asking; logs each change once', async () => {
    const guard = new MemoryStorageGuard((message) => new Forbidden(message));
    const closed = async () => Promise.reject(new Error('Connection is closed.'));
    const answers: Array<() => Promise<unknown>> = [async () => 0, closed, closed, async () => 1];
    let asked = 0;
    const logs: string[] = [];
    const { scheduler, due } = manualScheduler();
    const watch = new SharingWatch(guard, async () => (answers[asked++] ?? (async () => 1))(), target, (level, message) => logs.push(`${level}: ${message}`), scheduler);
    await watch.start();
    assert.equal(guard.stats().sharesRedis, 'no', 'the first probe missed the card');
    for (const expected of ['unknown', 'unknown', 'yes']) {
      assert.equal(due.length, 1, 'one probe scheduled');
      due.shift()?.();
      // Done when the next one is scheduled, or when none will be.
      await waitFor('the probe done', () => due.length === 1 || guard.knownShared);
      assert.equal(guard.stats().sharesRedis, expected);
    }
    assert.equal(asked, 4);
    assert.equal(due.length, 0, 'no probe once the sharing was seen');
    assert.equal(logs.length, 2, logs.join('\n'));
    assert.match(logs[0] ?? '', /^warn: could not tell whether memoryStorage shares .*Connection is closed.*stay checked/);
    assert.match(logs[1] ?? '', /^info: memoryStorage shares the plugin's Redis database/);
  });

  it('stops asking when stopped, even with a probe under way', async () => {
    const guard = new MemoryStorageGuard((message) => new Forbidden(message));
    let answer: (value: unknown) => void = () => undefined;
    const { scheduler, due } = manualScheduler();
    const watch = new SharingWatch(guard, () => new Promise((resolve) => (answer = resolve)), target, () => undefined, scheduler);
    const started = watch.start();
    watch.stop();
    answer(0);
    await started;
    assert.equal(due.length, 0);
    assert.equal(guard.stats().sharesRedis, 'unknown', 'an answer that came after the stop is not taken');
  });
});
