import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KuzzleLike } from '../../src/plugin/kuzzle-types';
import { assertNoBuiltinCluster } from '../../src/plugin/refuse-builtin-cluster';

/** Only `config.cluster` is read: the rest of Kuzzle is left out on purpose. */
const kuzzleWith = (cluster?: { enabled?: boolean }): KuzzleLike => ({ config: { cluster, services: { internalCache: {} } } }) as unknown as KuzzleLike;

describe('refusing to run next to Kuzzle\'s own cluster', () => {
  for (const version of ['2.11.0', '2.12.0', '2.56.0', '3.0.0']) {
    it(`Kuzzle ${version} with its cluster on (the default): refused, saying what to do`, () => {
      for (const cluster of [undefined, {}, { enabled: true }]) {
        assert.throws(() => assertNoBuiltinCluster(kuzzleWith(cluster), version), (error: Error) => {
          assert.match(error.message, new RegExp(`Kuzzle ${version.replace(/\./g, '\\.')} runs its own cluster`));
          assert.match(error.message, /Remove the plugin, or set "cluster\.enabled: false"/);
          return true;
        });
      }
    });
  }

  it('Kuzzle 2.11+ with cluster.enabled: false: the plugin starts', () => {
    assert.doesNotThrow(() => assertNoBuiltinCluster(kuzzleWith({ enabled: false }), '2.11.0'));
  });

  for (const version of ['2.4.0', '2.9.1', '2.10.4']) {
    it(`Kuzzle ${version} (no cluster of its own): the plugin starts`, () => {
      assert.doesNotThrow(() => assertNoBuiltinCluster(kuzzleWith(), version));
    });
  }
});
