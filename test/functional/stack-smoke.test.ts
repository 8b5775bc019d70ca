import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpClient, httpJson, useStack } from './support/fixture';

describe('local stack: 3 Kuzzle nodes with the plugin behind HAProxy', () => {
  const stack = useStack({ nodes: 3 });

  it('every node answers server:info and has loaded the cluster plugin', async () => {
    for (const node of stack().nodes) {
      const kuzzle = await httpClient(node.settings.ports.http);
      const info = (await kuzzle.server.info({})) as { serverInfo: { kuzzle: { version: string; plugins: Record<string, unknown> } } };
      assert.equal(info.serverInfo.kuzzle.version, '2.10.4', node.name);
      assert.ok('cluster' in info.serverInfo.kuzzle.plugins, `${node.name} has no cluster plugin`);
    }
  });

  it('every node reports the same 3 members', async () => {
    const ids = new Set<string>();
    for (let i = 1; i <= 3; i++) {
      const result = await stack().clusterStatus<{ node: { id: string; ready: boolean }; members: number; peers: unknown[] }>(i);
      assert.equal(result.node.ready, true);
      assert.equal(result.members, 3);
      assert.equal(result.peers.length, 2);
      ids.add(result.node.id);
    }
    assert.equal(ids.size, 3);
  });

  it('the load balancer reaches each node in turn and reports healthy', async () => {
    const lb = stack().lb;
    assert.ok(lb);
    const seen = new Set<string>();
    for (let i = 0; i < 12 && seen.size < 3; i++) {
      seen.add((await stack().clusterStatus<{ node: { id: string } }>('lb')).node.id);
    }
    assert.equal(seen.size, 3, 'round robin over the three nodes');
    const health = await httpJson(`${lb.url}/_plugin/cluster/health`);
    assert.equal(health.status, 200);
    assert.deepEqual((health.body.result as { ok: boolean }).ok, true);
  });
});
