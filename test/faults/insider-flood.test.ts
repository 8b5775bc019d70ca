import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { realParts } from '../../src/cluster/build-cluster-node';
import { ClusterNode } from '../../src/cluster/cluster-node';
import { parseOptions } from '../../src/config/options';
import { MAX_DOCUMENTS_PER_MESSAGE } from '../../src/sync/messages';
import { MAX_BROADCASTS_IN_HAND_PER_SENDER } from '../../src/bus/broadcast-backlog';
import type { ChangeNotice } from '../../src/sync/realtime-host';
import { ensureCollection, fixtureAction, portOf, Recorder, uniqueName, useFixturePlugin, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { FakeHost } from '../support/fake-host';
import { statusOf } from './support/cluster-checks';

const FLOOD_MS = 30_000;
/** Broadcasts the flooder keeps in flight at once. */
const FLOOD_WINDOW = 4;

/**
 * One `change:documents` as big as peers accept: 100 updated documents,
 * each with a source of about 1 kB, on a collection every node holds a
 * filter on (each node matches them, reads and writes their "matched
 * before" lists), matching none of them.
 */
function maximalChange(index: string, batch: number): ChangeNotice {
  return {
    index,
    collection: 'flooded',
    action: 'update',
    request: { data: { index, collection: 'flooded', controller: 'document', action: 'mUpdate', requestId: `flood-${batch}` }, options: {} },
    documents: Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE }, (_, i) => ({
      _id: `flood-${batch}-${i}`,
      _source: { never: false, padding: 'x'.repeat(1000) },
      _updatedFields: ['padding'],
    })),
  };
}

/** Polls each node's health for argv[1] ms; prints the worst latency per node and the failures. */
const HEALTH_PROBER = `
const [ms, ...ports] = process.argv.slice(1).map(Number);
const worst = ports.map(() => 0);
const failures = [];
const until = Date.now() + ms;
(async () => {
  while (Date.now() < until) {
    await Promise.all(ports.map(async (port, i) => {
      const started = Date.now();
      const status = await fetch('http://127.0.0.1:' + port + '/_plugin/cluster/health').then((r) => r.status, () => 0);
      worst[i] = Math.max(worst[i], Date.now() - started);
      if (status !== 200) failures.push('node ' + (i + 1) + ': ' + status);
    }));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.stdout.write(JSON.stringify({ worst, failures }));
})();
`;

/**
 * A flood from a node holding the key and registered as a member (the
 * worst an insider can be): maximal valid `change:documents` broadcasts on
 * a collection every node listens to, as fast as they go, for 30 s. The others keep answering health within a heartbeat timeout,
 * evict nobody (the flooder at most), keep notifying, and take in no more
 * of a peer's broadcasts than the bound (the rest wait in the sockets).
 */
useFixturePlugin();

describe('faults: a key-holding member floods the cluster', () => {
  const stack = useStack({ nodes: 3 });
  let flooder: ClusterNode | undefined;
  after(async () => {
    setPriority(0);
    await flooder?.stop().catch(() => undefined);
  });

  it('health answers within heartbeatTimeout on every node, nobody but the flooder is evicted, notifications still flow', { timeout: 300_000 }, async () => {
    const keys = stack().curveKeys;
    assert.ok(keys);
    const redis = stack().redis;
    assert.ok(redis);
    // The flooder judges nobody (its own loop is busy flooding): what is measured is how the others take it.
    const options = parseOptions({ curve: { secretKey: keys.secretKey }, bindings: { router: 'tcp://127.0.0.1:0', pub: 'tcp://127.0.0.1:0' }, timers: { heartbeatTimeout: 600_000 } });
    const { heartbeatTimeout } = parseOptions({}).timers;
    const logFile = join(stack().runDir, 'flooder.log');
    const log = (level: string, message: string): void => appendFileSync(logFile, `${new Date().toISOString()} ${level} ${message}\n`);
    const settings = { id: `flooder-${randomUUID()}`, options, host: new FakeHost(), log, redis: { node: { host: redis.host, port: redis.port } } };
    // On this 2-core machine the flooder would otherwise take the nodes' CPU
    // as well: an attacker's machine is its own. Its work is not what is measured.
    setPriority(19);
    const parts = realParts(settings);
    flooder = new ClusterNode(settings, parts);
    await flooder.connectState();
    await flooder.start();
    const kuzzleIds = await Promise.all([1, 2, 3].map(async (n) => (await statusOf(stack(), n)).node.id));
    await waitFor('the flooder to be a member of every node', async () => {
      for (let n = 1; n <= 3; n++) if ((await statusOf(stack(), n)).members !== 4) return false;
      return true;
    }, { timeoutMs: 30_000 });
    const before = await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n)));
    const clients = await Promise.all([1, 2, 3].map((n) => wsClient(portOf(stack(), n))));
    // From now on: each node's event-loop delays (what Kuzzle's start-up held does not count).
    for (const client of clients) await fixtureAction(client, 'eventLoopDelay', {});

    const index = uniqueName('flood');
    const publisher = await wsClient(portOf(stack(), 1));
    await ensureCollection(publisher, index, 'c');
    await ensureCollection(publisher, index, 'flooded');
    // A filter on the flooded collection on every node: each one matches every flooded document.
    for (const client of clients) await client.realtime.subscribe(index, 'flooded', { equals: { never: true } }, () => undefined);
    const deadline = Date.now() + FLOOD_MS;
    const sent = { changes: 0, failed: 0 };
    const transport = parts.transport;
    const broadcasts = Array.from({ length: FLOOD_WINDOW }, async (_, start) => {
      for (let batch = start; Date.now() < deadline; batch += FLOOD_WINDOW) {
        await transport.publish('change:documents', maximalChange(index, batch)).then(
          () => void sent.changes++,
          () => void sent.failed++,
        );
        // The flooder's own loop must let its sockets and timers run too.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });

    // Meanwhile, what a load balancer sees (from another process: this one
    // is busy flooding, its own delays must not count), and what a client gets.
    const prober = spawn(process.execPath, ['-e', HEALTH_PROBER, String(FLOOD_MS), ...[1, 2, 3].map((n) => String(portOf(stack(), n)))], { stdio: ['ignore', 'pipe', 'inherit'] });
    let probed = '';
    prober.stdout.on('data', (chunk: Buffer) => (probed += chunk.toString()));
    const proberDone = new Promise<void>((resolve) => prober.on('exit', () => resolve()));
    const subscriber = await wsClient(portOf(stack(), 3));
    const recorder = new Recorder();
    await subscriber.realtime.subscribe(index, 'c', {}, recorder.callback);
    let published = 0;
    /** The most peers' broadcasts a node had in hand, and its largest RSS (MB), sampled about every second. */
    const mostInHand = [0, 0, 0];
    const rssBefore = await Promise.all(clients.map((client) => fixtureAction(client, 'rss', {}) as Promise<number>));
    const mostRss = [...rssBefore];
    while (Date.now() < deadline) {
      if (published % 10 === 0) {
        const statuses = await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n)));
        for (const [i, status] of statuses.entries()) mostInHand[i] = Math.max(mostInHand[i] ?? 0, status.backlog.inHand);
        const rss = await Promise.all(clients.map((client) => fixtureAction(client, 'rss', {}) as Promise<number>));
        for (const [i, mb] of rss.entries()) mostRss[i] = Math.max(mostRss[i] ?? 0, mb);
      }
      await publisher.realtime.publish(index, 'c', { n: published++ });
      // The pace of the probes (about ten a second), not a wait for anything.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all([...broadcasts, proberDone]);
    const { worst, failures } = JSON.parse(probed) as { worst: number[]; failures: string[] };
    // How long each node's event loop was held at worst during the flood (inside the node, whatever the machine's load).
    const delays = await Promise.all(clients.map((client) => fixtureAction(client, 'eventLoopDelay', {}) as Promise<{ maxMs: number; p99Ms: number }>));
    console.log(`# event loop held at worst: ${delays.map((d) => `${Math.round(d.maxMs)} ms (p99 ${Math.round(d.p99Ms)})`).join(', ')}`);
    const matched = afterCounts(await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n))));
    const held = (await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n)))).map((status) => status.backlog.holds);
    console.log(`# flood: ${sent.changes} change:documents of ${MAX_DOCUMENTS_PER_MESSAGE} documents (${sent.failed} failed to send), matched per node ${matched.join(', ')}; worst health ${worst.join(', ')} ms; most peers' broadcasts in hand ${mostInHand.join(', ')}, peers held ${held.join(', ')} times; RSS ${rssBefore.map((mb, i) => `${Math.round(mb)} → ${Math.round(mostRss[i] ?? 0)}`).join(', ')} MB at most`);

    assert.deepEqual(failures, [], 'health answered 200 throughout');
    assert.equal(sent.failed, 0, 'every maximal change was sent');
    for (const [i, count] of matched.entries()) assert.ok(count > 0, `node ${i + 1} matched the flooded changes (${count})`);
    // At most the bound of any one peer in hand at once: the rest waited in the sockets, not in memory.
    const afterAll = await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n)));
    for (const [i, status] of afterAll.entries()) assert.ok(status.backlog.peak <= MAX_BROADCASTS_IN_HAND_PER_SENDER, `node ${i + 1} had ${status.backlog.peak} broadcasts of one peer in hand at most`);
    for (const [i, ms] of worst.entries()) assert.ok(ms < heartbeatTimeout, `node ${i + 1} answered health in ${ms} ms at worst (heartbeatTimeout ${heartbeatTimeout})`);
    await recorder.waitCount(published, 'every notification published during the flood', 30_000);
    const afterFlood = await Promise.all([1, 2, 3].map((n) => statusOf(stack(), n)));
    for (const [i, status] of afterFlood.entries()) {
      const peers = new Set(status.peers.map((peer) => peer.id));
      for (const id of kuzzleIds) if (id !== status.node.id) assert.ok(peers.has(id), `node ${i + 1} still counts ${id}`);
      assert.equal(status.node.rejoins, before[i]?.node.rejoins, `node ${i + 1} was not evicted`);
    }
  });
});

/** Peer changes each node matched so far. */
const afterCounts = (statuses: Array<{ changes: { applied: number } }>): number[] => statuses.map((status) => status.changes.applied);
