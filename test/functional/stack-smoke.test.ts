import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN } from '../harness/admin';
import { repoRoot } from '../harness/run-dir';
import { waitFor } from '../harness/wait';
import { httpClient, httpJson, useStack, wsClient } from './support/fixture';

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

describe('metrics for Prometheus', () => {
  const stack = useStack({ nodes: 2 });

  /** Parses the text format into `name{labels}` → value, checking every line on the way. */
  async function scrape(node: number): Promise<Map<string, number>> {
    const response = await fetch(`${stack().node(node).url}/_plugin/cluster/metrics`, { headers: { authorization: `Bearer ${await stack().adminToken()}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const samples = new Map<string, number>();
    for (const line of (await response.text()).split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      const match = /^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN)$/.exec(line);
      assert.ok(match, `not a Prometheus sample: ${line}`);
      samples.set(match[1] ?? '', Number(match[2]));
    }
    return samples;
  }

  it('are refused to anonymous users, and their counters move with the traffic', async () => {
    assert.equal((await httpJson(`${stack().node(1).url}/_plugin/cluster/metrics`)).status, 401);
    const before = await scrape(1);
    assert.equal(before.get('kpc_members'), 2);
    assert.equal(before.get('kpc_ready'), 1);
    assert.equal(before.get('kpc_healthy'), 1);
    assert.equal(before.get('kpc_state_degraded_seconds'), 0);
    assert.ok(before.has('kpc_state_retries_total{outcome="gave_up"}'));
    const client = await httpClient(stack().node(1).settings.ports.http);
    const ws = await wsClient(stack().node(1).settings.ports.http);
    const index = `metrics-${Date.now()}`;
    await client.index.create(index);
    await client.collection.create(index, 'c', {});
    await ws.realtime.subscribe(index, 'c', { equals: { a: 1 } }, () => undefined);
    await client.realtime.publish(index, 'c', { a: 1 });
    const after = await scrape(1);
    const grew = (name: string): boolean => (after.get(name) ?? 0) > (before.get(name) ?? 0);
    assert.ok(grew('kpc_messages_sent_total{type="change:documents"}'), 'changes sent to the peers counted');
    assert.ok(grew('kpc_bytes_sent_total{type="change:documents"}'), 'change bytes counted');
    assert.ok(grew('kpc_messages_sent_total{type="kuzzle:index:add"}'), 'index changes counted');
    assert.ok(grew('kpc_redis_script_duration_seconds_count{script="adjustSubscribers"}'), 'script latency observed');
    assert.equal(after.get('kpc_subscriptions{scope="local"}'), 1);
    assert.ok((after.get('kpc_rooms{scope="cluster"}') ?? 0) >= 1);
    assert.ok(after.has(`kpc_peer_heartbeat_age_seconds{peer="${(await stack().clusterStatus<{ peers: Array<{ id: string }> }>(1)).peers[0]?.id}"}`));
  });

  it('memoryStorage on a database of its own (Kuzzle\'s default) serves every key name, as one Kuzzle does', async () => {
    // Told apart after three rounds of a second each from the node's start, guarded until then; a round that cannot tell delays it by a minute.
    await waitFor('node 1 tells memoryStorage apart', async () => (await stack().clusterStatus<{ memoryStorage: { sharesRedis: string } }>(1)).memoryStorage.sharesRedis === 'no', { timeoutMs: 150_000 });
    const status = await stack().clusterStatus<{ memoryStorage: Record<string, unknown> }>(1);
    assert.deepEqual(status.memoryStorage, { sharesRedis: 'no', guarded: false, refused: 0, hidden: 0 });
    assert.equal((await scrape(1)).get('kpc_memory_storage_guarded'), 0);
    const client = await httpClient(stack().node(1).settings.ports.http);
    await client.auth.login('local', ADMIN);
    const key = `kpc:${Date.now()}`;
    await client.ms.set(key, 'mine');
    assert.equal(await client.ms.get(key), 'mine');
    assert.ok(((await client.ms.keys('kpc:*')) as string[]).includes(key));
    // A sort pattern reading other keys, refused on a shared database, is served.
    const list = `list-${Date.now()}`;
    await client.ms.rpush(list, ['a', 'b']);
    await client.ms.set('w_a', '2');
    await client.ms.set('w_b', '1');
    assert.deepEqual(await client.ms.sort(list, { by: 'w_*', alpha: true }), ['b', 'a']);
    await client.ms.del([key, list, 'w_a', 'w_b']);
  });

  it('every metric README names (its table and its alerts) is exported', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('## Security'));
    const named = new Set(section.match(/\bkpc_[a-z_]+/g) ?? []);
    assert.ok(named.size > 20, 'README names the metrics');
    const response = await fetch(`${stack().node(1).url}/_plugin/cluster/metrics`, { headers: { authorization: `Bearer ${await stack().adminToken()}` } });
    const families = new Set([...(await response.text()).matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]));
    const missing = [...named].filter((name) => !families.has(name) && !families.has(name.replace(/_(bucket|count|sum)$/, '')));
    assert.deepEqual(missing, []);
    // Counters the alerts watch with increase() exist at 0 before anything happens.
    const samples = await scrape(1);
    assert.equal(samples.get('kpc_evictions_total{reason="timeout"}'), 0);
    assert.ok([...samples.keys()].some((sample) => sample.startsWith('kpc_broadcasts_missed_total{peer=')));
  });
});

describe('README\'s Backend install: app.plugin.use(new ClusterPlugin())', () => {
  const stack = useStack({ nodes: 1 });

  it('a Backend application with the plugin joins a cluster of plugin-folder nodes, and notifications cross', { timeout: 180_000 }, async () => {
    const app = await stack().addNode({ backendScript: join(repoRoot, 'test', 'functional', 'fixtures', 'backend-app', 'app.js') });
    assert.equal((await stack().clusterStatus<{ members: number }>(2)).members, 2);
    const index = `backend-${Date.now()}`;
    const onFolderNode = await wsClient(stack().node(1).settings.ports.http);
    await onFolderNode.index.create(index);
    await onFolderNode.collection.create(index, 'c', {});
    const received: unknown[] = [];
    await onFolderNode.realtime.subscribe(index, 'c', {}, (n: unknown) => void received.push(n));
    const onApp = await wsClient(app.settings.ports.http);
    await onApp.realtime.publish(index, 'c', { from: 'the backend application' });
    await waitFor('the notification from the application node', () => received.length === 1);
  });
});
