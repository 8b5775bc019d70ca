import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HIDDEN, redactConfig } from '../../src/plugin/redact-config';

describe('redactConfig (server:getConfig)', () => {
  const config = () => ({
    plugins: {
      cluster: {
        minimumNodes: 3,
        curve: { secretKey: 'S'.repeat(40), accept: ['P'.repeat(40)] },
        redis: { nodes: [{ host: 'r', port: 1, password: 'pw5' }, 'redis://kpc:pw7@r2:6380'], options: { password: 'pw1', username: 'kpc', tls: { ca: 'CA', cert: 'CERT', key: 'KEY', passphrase: 'phrase-1' } }, clusterOptions: { redisOptions: { password: 'pw2' } } },
      },
    },
    services: {
      internalCache: { node: { host: 'c', port: 2, password: 'pw6' }, options: { password: 'pw3', sentinelPassword: 'pw4', sentinelTLS: { key: 'SKEY', passphrase: 'phrase-2' } } },
      memoryStorage: { options: { tls: { pfx: 'PFX' } } },
      storageEngine: { client: { node: 'http://es:9200' } },
    },
  });

  it('hides the CURVE secret key and every Redis password and TLS private key; keeps the rest', () => {
    const original = config();
    const shown = redactConfig(original);
    const text = JSON.stringify(shown);
    for (const secret of ['S'.repeat(40), 'pw1', 'pw2', 'pw3', 'pw4', 'pw5', 'pw6', 'pw7', 'KEY', 'SKEY', 'phrase-1', 'phrase-2', 'PFX']) assert.equal(text.includes(secret), false, secret);
    for (const kept of ['P'.repeat(40), 'kpc', 'r2:6380', 'CA', 'CERT', 'http://es:9200', '"minimumNodes":3']) assert.ok(text.includes(kept), kept);
    assert.equal((shown as ReturnType<typeof config>).plugins.cluster.curve.secretKey, HIDDEN);
  });

  it('never changes Kuzzle\'s own object (getConfig copies it only one level deep)', () => {
    const original = config();
    redactConfig(original);
    assert.deepEqual(original, config());
  });

  it('a curve given as a string (a misplaced secret) is hidden too; odd shapes do not throw', () => {
    assert.equal(JSON.stringify(redactConfig({ plugins: { cluster: { curve: 'S'.repeat(40) } } })).includes('S'.repeat(40)), false);
    for (const odd of [null, 'x', 1, [], { plugins: null }, { plugins: { cluster: [] } }, { services: { internalCache: 'x' } }]) redactConfig(odd);
  });
});
