import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { Firewall } from '../harness/firewall';
import { waitFor } from '../harness/wait';
import { assertNoGhost, healthOf, statusOf, waitCounts, waitMembers } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, subscribersOn } from './support/numbered-stream';

/**
 * Network partitions, made with iptables between the nodes' cluster
 * addresses (127.0.0.11-13). While a link is cut, each side evicts the other
 * and purges its subscriptions; a node in the middle relays the eviction, so
 * the accused write their subscriptions back; when the network heals, the
 * sides join again and converge with no manual reset.
 */
describe('faults: partitions', () => {
  const stack = useStack({ nodes: 3, distinctClusterHosts: true, clusterOptions: { minimumNodes: 2 } });
  const firewall = new Firewall();
  const index = uniqueName('partition');
  const collection = 'c';
  const host = (node: number): string => stack().node(node).clusterHost;
  let clients: Kuzzle[] = [];

  before(async () => {
    clients = [await wsClient(portOf(stack(), 1)), await wsClient(portOf(stack(), 2)), await wsClient(portOf(stack(), 3))];
    await ensureCollection(clients[0] as Kuzzle, index, collection);
  });

  after(() => firewall.remove());

  it('one link cut (1 ↔ 3, node 2 sees both): the middle relays, nothing reaching through node 2 is lost, all converge after healing', { timeout: 180_000 }, async () => {
    const stream = new NumberedStream(clients[1] as Kuzzle, index, collection, uniqueName('middle'));
    const subs = await subscribersOn(stack(), stream);
    stream.start();
    await waitCounts(clients, subs[0]?.roomId ?? '', 3);
    const rejoins = await Promise.all([1, 3].map(async (node) => (await statusOf(stack(), node)).node.rejoins));
    firewall.cut(host(1), host(3));
    await waitFor('nodes 1 and 3 to drop each other', async () => (await statusOf(stack(), 1)).members === 2 && (await statusOf(stack(), 3)).members === 2, {
      timeoutMs: 15_000,
    });
    assert.equal((await statusOf(stack(), 2)).members, 3, 'node 2 still hears both');
    await waitFor('nodes 1 and 3 to write their subscriptions back', async () => {
      const now = await Promise.all([1, 3].map(async (node) => (await statusOf(stack(), node)).node));
      return now.every((s, i) => s.rejoins > (rejoins[i] ?? 0) && !s.resyncing);
    }, { timeoutMs: 20_000 });
    await waitCounts(clients, subs[0]?.roomId ?? '', 3, 10_000);
    firewall.heal();
    await waitMembers(stack(), [1, 2, 3], 3);
    await waitCounts(clients, subs[0]?.roomId ?? '', 3, 10_000);
    const from = stream.position;
    await waitFor('100 more messages', () => stream.position > from + 100);
    await stream.stop();
    await assertNoLoss(stream, subs);
    // After healing, node 1 reaches node 3 again.
    const after = new NumberedStream(clients[0] as Kuzzle, index, collection, uniqueName('after'));
    const afterSubs = await subscribersOn(stack(), after);
    after.start();
    await waitFor('100 messages', () => after.position > 100);
    await after.stop();
    await assertNoLoss(after, afterSubs);
    await assertNoGhost(stack(), [1, 2, 3]);
  });

  it('1 + 2 with minimumNodes 2: the lone node answers 503, the majority 200; after healing all converge', { timeout: 180_000 }, async () => {
    const stream = new NumberedStream(clients[0] as Kuzzle, index, collection, uniqueName('split'));
    const subs = await subscribersOn(stack(), stream);
    await waitCounts(clients, subs[0]?.roomId ?? '', 3);
    firewall.partition([host(3)], [host(1), host(2)]);
    await waitFor('node 3 alone, unhealthy; nodes 1 and 2 healthy', async () => {
      const codes = await Promise.all([1, 2, 3].map((node) => healthOf(stack(), node)));
      return codes[0] === 200 && codes[1] === 200 && codes[2] === 503;
    }, { timeoutMs: 20_000 });
    assert.match((await statusOf(stack(), 3)).unhealthy ?? '', /1 node\(s\) in the cluster, 2 required/);
    firewall.heal();
    await waitMembers(stack(), [1, 2, 3], 3);
    await waitFor('health 200 everywhere', async () => (await Promise.all([1, 2, 3].map((node) => healthOf(stack(), node)))).every((c) => c === 200), {
      timeoutMs: 15_000,
    });
    await waitCounts(clients, subs[0]?.roomId ?? '', 3, 10_000);
    stream.start();
    await waitFor('100 messages', () => stream.position > 100);
    await stream.stop();
    await assertNoLoss(stream, subs);
    await assertNoGhost(stack(), [1, 2, 3]);
  });
});
