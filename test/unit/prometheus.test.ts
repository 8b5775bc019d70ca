import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { renderMetrics } from '../../src/api/prometheus';
import type { ClusterMetrics } from '../../src/cluster/cluster-metrics';
import { Histogram } from '../../src/util/histogram';
import { waitFor } from '../harness/wait';
import { MemoryCluster } from '../support/memory-cluster';

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(?:,|$)/gy;

/**
 * Parses Prometheus' text exposition format (0.0.4) strictly: every sample
 * belongs to the family whose HELP and TYPE lines come just before it
 * (histograms: its _bucket, _sum and _count series), names and labels are
 * well formed, label values escaped, values are numbers.
 */
function parseExposition(text: string): Family[] {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const families: Family[] = [];
  const lines = text.slice(0, -1).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const help = /^# HELP (\S+) (.+)$/.exec(line);
    if (help) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(lines[i + 1] ?? '');
      assert.ok(type && type[1] === help[1], `TYPE follows HELP for ${help[1]}`);
      assert.match(help[1] ?? '', NAME);
      assert.ok(!families.some((f) => f.name === help[1]), `${help[1]} declared once`);
      families.push({ name: help[1] ?? '', type: type[2] ?? '', help: help[2] ?? '', samples: [] });
      i++;
      continue;
    }
    const sample = SAMPLE.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    const family = families.at(-1);
    assert.ok(family, `${line}: a sample before any family`);
    const name = sample[1] ?? '';
    const allowed = family.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => family.name + suffix) : [family.name];
    assert.ok(allowed.includes(name), `${name} belongs to ${family.name}`);
    const labels: Record<string, string> = {};
    const raw = sample[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < raw.length) {
      const label = LABEL.exec(raw);
      assert.ok(label, `well-formed labels: ${raw}`);
      labels[label[1] ?? ''] = (label[2] ?? '').replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const value = Number(sample[3]);
    assert.ok(Number.isFinite(value), `${line}: a finite value`);
    family.samples.push({ name, labels, value });
  }
  return families;
}

describe('Prometheus exposition', () => {
  const cluster = new MemoryCluster();
  after(() => cluster.stopAll());

  it('a running node\'s metrics parse strictly, counters are named _total, and every family README promises is there', async () => {
    const [a, b] = [await cluster.start(), await cluster.start()];
    await waitFor('the two nodes to see each other', () => a.node.members === 2 && b.node.members === 2);
    const families = parseExposition(renderMetrics(await a.node.metrics()));
    for (const family of families) {
      if (family.type === 'counter') assert.match(family.name, /_total$/, `${family.name} is a counter`);
      assert.ok(family.help.length > 10, `${family.name} says what it is`);
    }
    const names = families.map((f) => f.name);
    for (const name of ['kpc_members', 'kpc_healthy', 'kpc_evictions_total', 'kpc_handshakes_total', 'kpc_dropped_total', 'kpc_peer_heartbeat_age_seconds']) {
      assert.ok(names.includes(name), name);
    }
    const members = families.find((f) => f.name === 'kpc_members');
    assert.deepEqual(members?.samples, [{ name: 'kpc_members', labels: {}, value: 2 }]);
    // Every eviction reason is exported from the start, at 0 (Prometheus' increase() misses a first appearance).
    const evictions = families.find((f) => f.name === 'kpc_evictions_total');
    assert.deepEqual(evictions?.samples.map((s) => s.labels.reason).sort(), ['connectionLost', 'left', 'replaced', 'timeout']);
  });

  it('label values are escaped, histograms are cumulative and end with +Inf = count, non-finite values are written 0', async () => {
    const [a] = cluster.nodes;
    assert.ok(a);
    const metrics: ClusterMetrics = await a.node.metrics();
    metrics.status.messages.sentByType['odd "type"\\with\na line'] = 3;
    metrics.clusterRooms = Number.NaN;
    const latency = new Histogram();
    for (const seconds of [0.0001, 0.003, 0.003, 0.2, 7]) latency.observe(seconds);
    metrics.scriptLatency = { addSubscriber: latency.snapshot() };
    const families = parseExposition(renderMetrics(metrics));
    const sent = families.find((f) => f.name === 'kpc_messages_sent_total');
    assert.ok(sent?.samples.some((s) => s.labels.type === 'odd "type"\\with\na line' && s.value === 3), 'the odd label survives the round trip');
    assert.equal(families.find((f) => f.name === 'kpc_rooms')?.samples.find((s) => s.labels.scope === 'cluster')?.value, 0);
    const histogram = families.find((f) => f.name === 'kpc_redis_script_duration_seconds');
    assert.equal(histogram?.type, 'histogram');
    const buckets = histogram?.samples.filter((s) => s.name.endsWith('_bucket')) ?? [];
    const counts = buckets.map((s) => s.value);
    assert.deepEqual(counts, [...counts].sort((x, y) => x - y), 'cumulative');
    assert.equal(buckets.at(-1)?.labels.le, '+Inf');
    assert.equal(buckets.at(-1)?.value, 5);
    assert.equal(histogram?.samples.find((s) => s.name.endsWith('_count'))?.value, 5);
    assert.equal(buckets.find((s) => s.labels.le === '5')?.value, 4, 'the 7 s observation is only in +Inf');
  });
});
