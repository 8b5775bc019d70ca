import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MemoryStorageGuard, refusalOf, withoutPluginKeys } from '../../src/plugin/memory-storage-guard';
import { memoryStorageSharesRedis } from '../../src/plugin/memory-storage-probe';

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

  it('refuses a whole transaction when one of its commands names a plugin key, and filters the results of one that runs', async () => {
    const { ask, reached } = setup();
    await assert.rejects(ask('core:cache:public:mExecute', [['set', 'user:a', '1'], ['del', 'kpc:x']]), Forbidden);
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

  it('keeps the guard when the probe failed', () => {
    const { guard } = setup();
    guard.settle(false);
    guard.settle(undefined);
    assert.equal(guard.stats().guarded, true);
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
  const probe = async (answer: () => Promise<unknown>) => {
    const asked: unknown[][] = [];
    const logs: string[] = [];
    const shares = await memoryStorageSharesRedis(
      async (...args) => {
        asked.push(args);
        return answer();
      },
      'prod',
      'node-1',
      (level, message) => logs.push(`${level}: ${message}`),
    );
    return { shares, asked, logs };
  };

  it('asks for this node\'s card in the cards hash of its cluster', async () => {
    const { shares, asked, logs } = await probe(async () => 1);
    assert.equal(shares, true);
    assert.deepEqual(asked, [['hexists', 'kpc:prod:{kpc:prod:nodes}:cards', 'node-1']]);
    assert.match(logs.join('\n'), /^info: memoryStorage shares the plugin's Redis database/);
  });

  it('finds the databases apart when the card is not there, or when Redis refuses memoryStorage the plugin\'s keys', async () => {
    assert.equal((await probe(async () => 0)).shares, false);
    assert.equal((await probe(async () => Promise.reject(new Error('NOPERM this user has no permissions to access one of the keys used as arguments')))).shares, false);
  });

  it('does not know, and says so, when the probe fails otherwise', async () => {
    const { shares, logs } = await probe(async () => Promise.reject(new Error('Connection is closed.')));
    assert.equal(shares, undefined);
    assert.match(logs.join('\n'), /^warn: could not tell whether memoryStorage shares .*Connection is closed.*stay checked/);
  });
});
