import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { nodeConfig } from '../harness/kuzzle-node';
import { readmeExample } from '../harness/readme-balancers';
import { repoRoot } from '../harness/run-dir';

/** `kuzzle_a__b__c: value` lines of the compose file's Kuzzle environment, as config paths. */
function composePaths(file = 'docker-compose.yml'): Map<string, string> {
  const text = readFileSync(join(repoRoot, 'docker-compose', file), 'utf8');
  const paths = new Map<string, string>();
  for (const match of text.matchAll(/^\s+kuzzle_([A-Za-z0-9_]+):\s*(.+)$/gm)) {
    paths.set((match[1] ?? '').split('__').join('.'), (match[2] ?? '').replace(/^"|"$/g, ''));
  }
  return paths;
}

function flatten(value: unknown, prefix = '', into = new Map<string, unknown>()): Map<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, prefix ? `${prefix}.${key}` : key, into);
  } else {
    into.set(prefix, value);
  }
  return into;
}

/** What only the local stack needs (free ports on one machine, test plugins, quieter logs). */
const LOCAL_ONLY = [/^server\./, /^plugins\.kuzzle-plugin-logger\./, /^plugins\.kpc-sync-fixture\./, /\.port$/, /^plugins\.common\.pipeWarnTime$/];
/** What only the compose file needs: hosts of a container network, and a production-like cluster. */
const COMPOSE_ONLY = [/^plugins\.cluster\.minimumNodes$/];

/** A local stack node's configuration, flattened to config paths. */
function localConfig(clusterOptions: Record<string, unknown>): Map<string, unknown> {
  return flatten(
    nodeConfig({
      index: 1,
      runDir: '/tmp',
      esUrl: 'http://127.0.0.1:9200',
      redis: { host: '127.0.0.1', port: 6379 },
      ports: { http: 7512, router: 7510, pub: 7511 },
      clusterOptions: { curve: { secretKey: 'x' }, ...clusterOptions },
    }),
  );
}

describe('docker-compose/ matches the local stack', () => {
  const local = localConfig({});
  const compose = composePaths();

  it('sets the same Kuzzle and plugin settings (values may differ: hosts, ports, keys)', () => {
    const missingInCompose = [...local.keys()].filter((path) => !LOCAL_ONLY.some((re) => re.test(path)) && !compose.has(path));
    const unknownToLocal = [...compose.keys()].filter((path) => !COMPOSE_ONLY.some((re) => re.test(path)) && !local.has(path));
    assert.deepEqual(missingInCompose, [], 'settings of the local stack the compose file lacks');
    assert.deepEqual(unknownToLocal, [], 'settings of the compose file the local stack lacks');
    assert.equal(compose.get('plugins.cluster.privileged'), 'true');
    assert.equal(compose.get('services.storageEngine.commonMapping.dynamic'), 'true');
  });

  it('balances the same way as README\'s HAProxy example: the same health check and retries', () => {
    const composeCfg = readFileSync(join(repoRoot, 'docker-compose', 'haproxy.cfg'), 'utf8');
    const harness = readFileSync(join(repoRoot, 'test', 'harness', 'haproxy.ts'), 'utf8');
    const example = readmeExample('haproxy');
    const lines = [
      'option httpchk GET /_plugin/cluster/health', 'http-check expect status 200', 'default-server inter 500ms fall 2 rise 1', 'balance roundrobin',
      'retries 3', 'option redispatch 1', 'retry-on conn-failure empty-response 503',
    ];
    for (const line of lines) {
      assert.ok(example.includes(line), `README example: ${line}`);
      assert.ok(composeCfg.includes(line), `compose haproxy.cfg: ${line}`);
      assert.ok(harness.includes(line), `harness haproxy: ${line}`);
    }
  });

  it('the Redis Cluster variant configures the plugin as the local stack does on a Redis Cluster (replicas, password)', () => {
    // What Stack gives the plugin with `pluginRedisCluster` (Stack.clusterSettings) on a password cluster.
    const withCluster = localConfig({ redis: { nodes: [{ host: '127.0.0.1', port: 7000 }], options: { password: 'p' } } });
    const variant = composePaths('redis-cluster.yml');
    const pluginRedis = (paths: Iterable<string>): string[] => [...paths].filter((path) => path.startsWith('plugins.cluster.redis')).sort();
    assert.deepEqual(pluginRedis(variant.keys()), pluginRedis(withCluster.keys()));
    const nodes = JSON.parse((variant.get('plugins.cluster.redis.nodes') ?? '').replace(/^'?\*json:/, '').replace(/'$/, '')) as unknown[];
    assert.equal(nodes.length, 3, 'seed nodes: the 3 masters');
    // Kuzzle's own caches stay on the standalone Redis.
    assert.equal(variant.has('services.internalCache.nodes'), false);
    const text = readFileSync(join(repoRoot, 'docker-compose', 'redis-cluster.yml'), 'utf8');
    const harness = readFileSync(join(repoRoot, 'test', 'harness', 'redis-cluster.ts'), 'utf8');
    for (const flag of ['--cluster-enabled', '--requirepass', '--masterauth', '--cluster-replicas', '--cluster-yes']) {
      assert.ok(text.includes(flag), `compose variant: ${flag}`);
      assert.ok(harness.includes(flag), `harness Redis Cluster: ${flag}`);
    }
    assert.match(text, /--cluster-replicas 1/);
    assert.equal((text.match(/^ {2}redis-c\d: \*redis-node$/gm) ?? []).length, 6, '6 servers: 3 masters, 3 replicas');
  });
});
