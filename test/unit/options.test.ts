import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveBinding } from '../../src/config/bindings';
import { ConfigError } from '../../src/config/errors';
import { DEFAULT_OPTIONS, parseOptions } from '../../src/config/options';
import { redisSettingsOf } from '../../src/config/redis-settings';
import { renderOptionsTable, TABLE_END, TABLE_START } from '../../src/config/options-table';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs parseOptions and collects its warnings. */
function parse(raw: unknown): { options: ReturnType<typeof parseOptions>; warnings: string[] } {
  const warnings: string[] = [];
  const options = parseOptions(raw, (message) => warnings.push(message));
  return { options, warnings };
}

/** Asserts that parsing `raw` throws a ConfigError about `key`. */
function assertRejects(raw: unknown, key: string): void {
  assert.throws(
    () => parseOptions(raw),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.equal(error.key, key);
      assert.ok(error.message.includes(`"${key}"`), `message "${error.message}" should name ${key}`);
      return true;
    },
    `expected ${JSON.stringify(raw)} to be rejected on ${key}`,
  );
}

const redis = { node: { host: 'localhost', port: 6379 } };

describe('parseOptions', () => {
  it('returns the defaults for undefined, null and {}', () => {
    for (const raw of [undefined, null, {}]) {
      const { options, warnings } = parse(raw);
      assert.deepEqual(options, DEFAULT_OPTIONS);
      assert.deepEqual(warnings, []);
    }
  });

  it('does not share objects with the defaults', () => {
    const { options } = parse({});
    options.timers.heartbeat = 1;
    options.bindings.pub = 'x';
    assert.equal(DEFAULT_OPTIONS.timers.heartbeat, 500);
    assert.equal(DEFAULT_OPTIONS.bindings.pub, 'tcp://[_site_:ipv4]:7511');
    assert.equal(parse({}).options.timers.heartbeat, 500);
  });

  it('merges timers: setting one keeps the others', () => {
    const { options } = parse({ timers: { heartbeat: 100 } });
    assert.deepEqual(options.timers, { ...DEFAULT_OPTIONS.timers, heartbeat: 100 });
  });

  it('merges bindings: setting router keeps pub', () => {
    const { options } = parse({ bindings: { router: 'tcp://127.0.0.1:9000' } });
    assert.deepEqual(options.bindings, { router: 'tcp://127.0.0.1:9000', pub: DEFAULT_OPTIONS.bindings.pub });
    const other = parse({ bindings: { pub: 'tcp://127.0.0.1:9001' } }).options;
    assert.deepEqual(other.bindings, { router: DEFAULT_OPTIONS.bindings.router, pub: 'tcp://127.0.0.1:9001' });
  });

  it('accepts every valid option', () => {
    const timers = {
      heartbeat: 200,
      heartbeatTimeout: 1000,
      cardTtl: 3000,
      discoverTimeout: 1,
      joinAttemptInterval: 10,
      waitForMissingRooms: 5,
      stateAck: 6,
      antiEntropy: 9,
      leaveTimeout: 7,
      redisRetry: 0,
      stateUnreachable: 4,
      redisConnect: 3,
    };
    const { options, warnings } = parse({
      bindings: { router: 'tcp://[eth0:ipv4]:7000', pub: 'tcp://[eth0:ipv4]:7001' },
      minimumNodes: 3,
      retryJoin: 0,
      clusterName: 'prod',
      maxFrameBytes: 1_048_576,
      highWaterMark: 10,
      timers,
      redis: { nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }], database: 0, options: { password: 'x' }, clusterOptions: {} },
    });
    assert.deepEqual(warnings, []);
    assert.equal(options.minimumNodes, 3);
    assert.equal(options.retryJoin, 0);
    assert.equal(options.clusterName, 'prod');
    // "2024" in .kuzzlerc or kuzzle_plugins__cluster__clusterName reaches the plugin as a number.
    assert.equal(parse({ clusterName: 2024 }).options.clusterName, '2024');
    assert.equal(options.maxFrameBytes, 1_048_576);
    assert.deepEqual(options.timers, timers);
    assert.deepEqual(options.redis, {
      nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }],
      database: 0,
      options: { password: 'x' },
      clusterOptions: {},
    });
  });

  it('accepts numbers given as strings (environment variables)', () => {
    const { options } = parse({
      minimumNodes: '2',
      retryJoin: ' 5 ',
      timers: { heartbeat: '100', heartbeatTimeout: '400' },
      redis: { node: { host: 'h', port: '6380' }, database: '3' },
    });
    assert.equal(options.minimumNodes, 2);
    assert.equal(options.retryJoin, 5);
    assert.equal(options.timers.heartbeat, 100);
    assert.equal(options.timers.heartbeatTimeout, 400);
    assert.deepEqual(options.redis, { node: { host: 'h', port: 6380 }, database: 3 });
  });

  it('rejects every invalid value with a ConfigError naming the key', () => {
    const cases: Array<[unknown, string]> = [
      ['nope', 'plugins.cluster'],
      [[1], 'plugins.cluster'],
      [42, 'plugins.cluster'],
      [{ timers: { heartbeat: 0 } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: -5 } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: 1.5 } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: 'abc' } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: '' } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: null } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: true } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: Number.NaN } }, 'timers.heartbeat'],
      [{ timers: { heartbeat: Number.POSITIVE_INFINITY } }, 'timers.heartbeat'],
      [{ timers: { discoverTimeout: '1e' } }, 'timers.discoverTimeout'],
      [{ timers: { leaveTimeout: [] } }, 'timers.leaveTimeout'],
      [{ timers: 'fast' }, 'timers'],
      [{ timers: [] }, 'timers'],
      [{ timers: null }, 'timers'],
      [{ minimumNodes: 0 }, 'minimumNodes'],
      [{ minimumNodes: '0' }, 'minimumNodes'],
      [{ minimumNodes: 'two' }, 'minimumNodes'],
      [{ minimumNodes: 2.5 }, 'minimumNodes'],
      [{ retryJoin: -1 }, 'retryJoin'],
      [{ clusterName: '' }, 'clusterName'],
      [{ clusterName: '   ' }, 'clusterName'],
      [{ clusterName: Number.NaN }, 'clusterName'],
      [{ clusterName: true }, 'clusterName'],
      [{ bindings: 'tcp://x:1' }, 'bindings'],
      [{ bindings: { pub: '' } }, 'bindings.pub'],
      [{ bindings: { pub: 7511 } }, 'bindings.pub'],
      [{ bindings: { router: null } }, 'bindings.router'],
      [{ redis: 'localhost' }, 'redis'],
      [{ redis: {} }, 'redis'],
      [{ redis: { database: 1 } }, 'redis'],
      [{ redis: { node: 'localhost:6379' } }, 'redis.node'],
      [{ redis: { node: { host: 'h' } } }, 'redis.node.port'],
      [{ redis: { node: { host: '', port: 1 } } }, 'redis.node.host'],
      [{ redis: { node: { host: 'h', port: 0 } } }, 'redis.node.port'],
      [{ redis: { nodes: [] } }, 'redis.nodes'],
      [{ redis: { nodes: { host: 'h', port: 1 } } }, 'redis.nodes'],
      [{ redis: { nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 'x' }] } }, 'redis.nodes[1].port'],
      [{ redis: { nodes: [{ host: 'a', port: 1 }, null] } }, 'redis.nodes[1]'],
      [{ redis: { ...redis, database: -1 } }, 'redis.database'],
      [{ redis: { ...redis, options: 'x' } }, 'redis.options'],
      // The plugin's Lua scripts name keys a prefix would not reach.
      [{ redis: { ...redis, options: { keyPrefix: 'app:' } } }, 'redis.options.keyPrefix'],
      [{ redis: { nodes: [{ host: 'a', port: 1 }], clusterOptions: { keyPrefix: 'app:' } } }, 'redis.clusterOptions.keyPrefix'],
      [{ redis: { nodes: [{ host: 'a', port: 1 }], clusterOptions: { redisOptions: { keyPrefix: 'app:' } } } }, 'redis.clusterOptions.redisOptions.keyPrefix'],
      [{ redis: { ...redis, clusterOptions: [] } }, 'redis.clusterOptions'],
      [{ timers: { joinAttemptIntervall: 0 } }, 'timers.joinAttemptIntervall'],
    ];
    for (const [raw, key] of cases) assertRejects(raw, key);
  });

  it('never repeats a bad value in its error: a secret put in the wrong place stays secret', async () => {
    const { curveKeyPair } = await import('zeromq');
    const { secretKey } = curveKeyPair();
    const misplaced: unknown[] = [
      { curve: secretKey },
      { minimumNodes: secretKey },
      { insecure: secretKey },
      { clusterName: [secretKey] },
      { redis: secretKey },
      { curve: { secretKey: `${secretKey}x` } },
      { curve: { secretKey, accept: [secretKey.slice(1)] } },
    ];
    for (const raw of misplaced) {
      const error = (() => {
        try {
          parseOptions(raw);
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      assert.ok(error instanceof ConfigError, JSON.stringify(Object.keys(raw as object)));
      assert.equal(error.message.includes(secretKey.slice(0, 20)), false, error.message);
    }
    // Bindings are resolved when the node is built.
    assert.throws(() => resolveBinding('bindings.router', secretKey), (error: unknown) => error instanceof ConfigError && !error.message.includes(secretKey.slice(0, 20)));
  });

  it('rejects a heartbeatTimeout under twice the heartbeat, and a heartbeat under 20 ms', () => {
    assertRejects({ timers: { heartbeat: 500, heartbeatTimeout: 500 } }, 'timers.heartbeatTimeout');
    assertRejects({ timers: { heartbeat: 500, heartbeatTimeout: 100 } }, 'timers.heartbeatTimeout');
    // Against the default heartbeat too.
    assertRejects({ timers: { heartbeatTimeout: 400 } }, 'timers.heartbeatTimeout');
    assertRejects({ timers: { heartbeat: 3000 } }, 'timers.heartbeatTimeout');
    assertRejects({ timers: { heartbeat: 500, heartbeatTimeout: 999 } }, 'timers.heartbeatTimeout');
    assert.equal(parse({ timers: { heartbeat: 500, heartbeatTimeout: 1000 } }).options.timers.heartbeatTimeout, 1000);
    assertRejects({ timers: { heartbeat: 19 } }, 'timers.heartbeat');
  });

  it('rejects a timer Node cannot hold (above 2^31 - 1 ms a timer fires after 1 ms), and a message size frames cannot carry in 65,535 fragments', () => {
    assertRejects({ timers: { antiEntropy: 3_000_000_000 } }, 'timers.antiEntropy');
    assertRejects({ timers: { stateAck: 2 ** 31 } }, 'timers.stateAck');
    assert.equal(parse({ timers: { antiEntropy: 2 ** 31 - 1 } }).options.timers.antiEntropy, 2 ** 31 - 1);
    assertRejects({ maxFrameBytes: 1024, maxMessageBytes: 64 * 1024 * 1024 }, 'maxMessageBytes');
    assert.equal(parse({ maxFrameBytes: 1024, maxMessageBytes: 16 * 1024 * 1024 }).options.maxMessageBytes, 16 * 1024 * 1024);
  });

  it('warns about unknown keys, naming them, and ignores them', () => {
    const { options, warnings } = parse({
      foo: 1,
      bindings: { router: 'tcp://1.2.3.4:1', extra: 'x' },
      timers: { heartbeat: 100, tick: 5 },
    });
    assert.equal(warnings.length, 3);
    assert.ok(warnings.some((w) => w.includes('"foo"')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('"bindings.extra"')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('"timers.tick"')), warnings.join('\n'));
    assert.equal('foo' in options, false);
    assert.equal('extra' in options.bindings, false);
    assert.equal('tick' in options.timers, false);
    assert.equal(options.timers.heartbeat, 100);
  });

  it('does not warn about the keys Kuzzle adds to every plugin configuration', () => {
    const { options, warnings } = parse({ privileged: true, initTimeout: 10000, pipeWarnTime: 500, pipeTimeout: 1000 });
    assert.deepEqual(warnings, []);
    assert.deepEqual(options, DEFAULT_OPTIONS);
  });

  it('accepts the old timers.joinAttemptIntervall with a deprecation warning', () => {
    const { options, warnings } = parse({ timers: { joinAttemptIntervall: 250 } });
    assert.equal(options.timers.joinAttemptInterval, 250);
    assert.equal('joinAttemptIntervall' in options.timers, false);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /joinAttemptIntervall/);
    assert.match(warnings[0] ?? '', /deprecated/);
    assert.match(warnings[0] ?? '', /joinAttemptInterval"/);
  });

  it('rejects a card TTL that the heartbeat could not renew in time', () => {
    assertRejects({ timers: { heartbeat: 500, cardTtl: 500 } }, 'timers.cardTtl');
  });

  it('README shows exactly the table generated from the schema', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    assert.ok(start >= 0 && end > start, 'README has the options table markers');
    assert.equal(readme.slice(start + TABLE_START.length, end).trim(), renderOptionsTable(), 'run `npm run docs` to update README');
  });

  it('accepts redis with a single node', () => {
    assert.deepEqual(parse({ redis }).options.redis, { node: { host: 'localhost', port: 6379 } });
  });
});

describe('Kuzzle\'s internalCache as the plugin\'s Redis', () => {
  it('is taken as is, but refused with a key prefix, saying to give the plugin its own settings', () => {
    assert.deepEqual(redisSettingsOf({ node: { host: 'h', port: 1 }, database: 2, backend: 'redis' }), { node: { host: 'h', port: 1 }, database: 2, nodes: undefined, options: undefined, clusterOptions: undefined });
    assert.throws(
      () => redisSettingsOf({ node: { host: 'h', port: 1 }, options: { keyPrefix: 'k:' } }),
      (error: unknown) => error instanceof ConfigError && /services\.internalCache\.options\.keyPrefix.*plugins\.cluster\.redis/.test(error.message),
    );
  });
});

describe('README\'s configuration examples', () => {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const jsonBlocks = [...readme.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

  it('every JSON example with plugins.cluster is accepted as written, without a warning', () => {
    const examples = jsonBlocks
      .map((text) => JSON.parse(text) as { plugins?: { cluster?: unknown } })
      .filter((config) => config.plugins?.cluster !== undefined);
    assert.ok(examples.length >= 2, 'the .kuzzlerc and Redis Cluster examples');
    for (const example of examples) {
      const { options, warnings } = parse(example.plugins?.cluster);
      assert.deepEqual(warnings, []);
      assert.ok(options);
    }
  });
});
