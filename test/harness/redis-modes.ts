import { randomBytes } from 'node:crypto';
import { pluginAclRules } from '../../src/state/redis-acl';
import type { StackOptions } from './stack';

/** A password made for one run: nothing fixed to leak or to collide. */
export const throwawayPassword = (): string => `kpc-${randomBytes(12).toString('hex')}`;

/**
 * Production-shaped Redis setups a stack can run on, by name, so that the
 * redis tier reruns functional test files unchanged on each
 * (`KPC_STACK_REDIS`, read by the functional fixture's `useStack`):
 * - `plugin-cluster`: the plugin on its own Redis Cluster (3 masters, one
 *   replica each) through `plugins.cluster.redis`, as an ACL user with
 *   exactly README's least-privilege rules; Kuzzle's internalCache stays
 *   on the standalone Redis;
 * - `internal-cluster-tls`: Kuzzle's internalCache on a Redis Cluster (3
 *   masters, one replica each) with an ACL user and mutual TLS, and the
 *   plugin following internalCache (no `redis` option).
 */
export function redisMode(name: string | undefined): StackOptions {
  switch (name) {
    case undefined:
    case '':
      return {};
    case 'plugin-cluster':
      return {
        pluginRedisCluster: {
          replicas: 1,
          auth: { user: 'admin', password: throwawayPassword(), pluginUser: { user: 'kuzzle-cluster', password: throwawayPassword(), rules: pluginAclRules('kuzzle') } },
        },
      };
    case 'internal-cluster-tls':
      return { internalCacheCluster: { replicas: 1, auth: { user: 'kuzzle', password: throwawayPassword() }, tls: true } };
    default:
      throw new Error(`unknown KPC_STACK_REDIS ${JSON.stringify(name)}: plugin-cluster or internal-cluster-tls`);
  }
}
