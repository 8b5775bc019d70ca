import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clusterPrefix, StateKeys } from '../../src/state/keys';
import { useStack } from '../functional/support/fixture';
import type { KuzzleNode } from '../harness/kuzzle-node';
import { throwawayPassword } from '../harness/redis-modes';
import { makeTestCertificates } from '../harness/tls-certs';
import { waitFor } from '../harness/wait';

const password = throwawayPassword();

async function exitLog(node: KuzzleNode): Promise<string> {
  node.start();
  await waitFor(`${node.name} to exit`, () => !node.alive, { timeoutMs: 90_000 });
  assert.match(node.process?.describeExit() ?? '', /exited with code [1-9]/);
  return node.logTail(300);
}

/**
 * Kuzzle's internalCache on a Redis Cluster (3 masters, one replica each)
 * with an ACL user (the default user disabled) and mutual TLS, the plugin
 * following internalCache; and what a node says when its credentials or
 * its TLS settings are wrong.
 */
describe('a Redis Cluster with an ACL user and mutual TLS', () => {
  const stack = useStack({ nodes: 1, internalCacheCluster: { replicas: 1, auth: { user: 'kuzzle', password }, tls: true } });

  it('Kuzzle and the plugin keep their state there', async () => {
    const redis = stack().stateRedis();
    try {
      assert.equal(await redis.exists(new StateKeys(clusterPrefix('kuzzle')).cards), 1, "the node's card is on the cluster");
    } finally {
      redis.disconnect();
    }
  });

  it('a wrong ACL password for the plugin: the node refuses to start, naming the cluster and WRONGPASS, never the password', { timeout: 120_000 }, async () => {
    const cluster = stack().redisCluster;
    assert.ok(cluster);
    const wrong = `wrong-${throwawayPassword()}`;
    const node = await stack().createNodeWith({ redis: { nodes: cluster.nodes, options: { ...cluster.clientOptions, password: wrong } } });
    const log = await exitLog(node);
    assert.match(log, new RegExp(`cannot use Redis Cluster 127\\.0\\.0\\.1:${cluster.nodes[0]?.port}.*WRONGPASS`));
    assert.ok(!log.includes(wrong), 'the password is not in the log');
  });

  it('a CA that did not sign the servers: the node refuses to start, naming the cluster and the certificate failure', { timeout: 120_000 }, async () => {
    const cluster = stack().redisCluster;
    assert.ok(cluster?.certificates);
    const other = await makeTestCertificates(join(stack().runDir, 'other-ca'));
    const node = await stack().createNodeWith({
      redis: { nodes: cluster.nodes, options: { ...cluster.clientOptions, tls: { ca: other.ca, cert: cluster.certificates.cert, key: cluster.certificates.key } } },
      timers: { redisConnect: 3000 },
    });
    const log = await exitLog(node);
    assert.match(log, new RegExp(`cannot use Redis Cluster 127\\.0\\.0\\.1:${cluster.nodes[0]?.port}.*certificate`, 'i'));
    assert.ok(!log.includes(password), 'the password is not in the log');
  });

  it("a wrong password in Kuzzle's own internalCache: Kuzzle stops before loading plugins, without the password", { timeout: 120_000 }, async () => {
    const cluster = stack().redisCluster;
    assert.ok(cluster);
    const wrong = `wrong-${throwawayPassword()}`;
    const node = await stack().createNodeWith({});
    node.settings.internalCache = { nodes: cluster.nodes, options: { ...cluster.clientOptions, password: wrong } };
    const log = await exitLog(node);
    console.log(`# Kuzzle's own message: ${log.split('\n').filter((line) => /\[X\]|Error/i.test(line)).slice(0, 2).join(' | ')}`);
    assert.ok(!log.includes(wrong), 'the password is not in the log');
  });
});
