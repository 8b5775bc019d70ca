import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, healthOf, retireAndStop, statusOf, waitCounts, waitMembers, type NodeStatus } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber } from './support/numbered-stream';

const NODES = 8;
const ALL = Array.from({ length: NODES }, (_, i) => i + 1);

/** Removals of peers that did not leave on their own (crash, timeout, replacement). */
const evictionsOf = (status: NodeStatus): number => Object.entries(status.evictions).reduce((sum, [reason, count]) => sum + (reason === 'left' ? 0 : count), 0);

/** Each listed node's evictions and rejoins so far, to compare with after a step. */
async function snapshot(stack: Parameters<typeof statusOf>[0], nodes: number[]): Promise<Map<number, { evictions: number; rejoins: number; incarnation: number }>> {
  const map = new Map<number, { evictions: number; rejoins: number; incarnation: number }>();
  for (const node of nodes) {
    const status = await statusOf(stack, node);
    map.set(node, { evictions: evictionsOf(status), rejoins: status.node.rejoins, incarnation: status.node.incarnation });
  }
  return map;
}

/**
 * Eight Kuzzle nodes on this machine's two cores, with the default timers:
 * formation, a kill -9 and a rolling restart of every node under a steady
 * stream, with subscribers on every node. Beyond losing nothing, no node
 * that stays up may be evicted by another (a false suspicion under load).
 */
describe('faults: 8 nodes: formation, kill -9 and a rolling restart under load', () => {
  const stack = useStack({ nodes: NODES });
  const index = uniqueName('eight');
  const collection = 'c';
  let watchers: Kuzzle[];

  before(async () => {
    await ensureCollection(await wsClient(portOf(stack(), 1)), index, collection);
    watchers = [await wsClient(portOf(stack(), 1)), await wsClient(portOf(stack(), NODES))];
  });

  async function subscriberOn(node: number, name: string, stream: NumberedStream): Promise<StreamSubscriber> {
    const subscriber = new StreamSubscriber(name, await wsClient(portOf(stack(), node)));
    await subscriber.subscribe(stream);
    return subscriber;
  }

  it('forms: every node counts 8 members and healthy, nobody evicted', { timeout: 120_000 }, async () => {
    await waitMembers(stack(), ALL, NODES, 60_000);
    for (const node of ALL) {
      assert.equal(await healthOf(stack(), node), 200, `node ${node} healthy`);
      const status = await statusOf(stack(), node);
      assert.equal(evictionsOf(status), 0, `node ${node} evicted nobody: ${JSON.stringify(status.evictions)}`);
      assert.equal(status.node.rejoins, 0, `node ${node} never had to join again`);
    }
  });

  it('kill -9 of one node: the 7 others drop it once, lose nothing, and none of them is evicted', { timeout: 240_000 }, async () => {
    const stream = new NumberedStream(await wsClient(portOf(stack(), 1)), index, collection, uniqueName('kill'));
    const subs: StreamSubscriber[] = [];
    for (const node of ALL) subs.push(await subscriberOn(node, `on ${node}`, stream));
    const room = subs[0]?.roomId ?? '';
    stream.start();
    await waitCounts(watchers, room, NODES);
    await waitFor('a few messages', () => stream.acked.size > 100);
    const survivors = ALL.slice(0, -1);
    const before = await snapshot(stack(), survivors);
    const killed = subs[NODES - 1];
    assert.ok(killed);
    killed.until = stream.position - 1;
    await stack().node(NODES).kill();
    await waitMembers(stack(), survivors, NODES - 1, 15_000);
    await waitCounts([watchers[0] as Kuzzle], room, NODES - 1);
    await waitFor('100 more messages', () => stream.position > (killed.until) + 100);
    await stream.stop();
    await assertNoLoss(stream, subs.slice(0, -1));
    assert.equal(stream.failed.size, 0, 'the publisher never failed');
    const after = await snapshot(stack(), survivors);
    for (const node of survivors) {
      const was = before.get(node);
      const now = after.get(node);
      assert.deepEqual({ evicted: (now?.evictions ?? 0) - (was?.evictions ?? 0), rejoins: now?.rejoins, incarnation: now?.incarnation }, { evicted: 1, rejoins: was?.rejoins, incarnation: was?.incarnation }, `node ${node}: dropped the killed node only, never evicted itself`);
    }
    await assertNoGhost(stack(), survivors);
    await stack().node(NODES).start();
    await stack().node(NODES).waitReady();
    await waitMembers(stack(), ALL, NODES);
    watchers[1] = await wsClient(portOf(stack(), NODES));
  });

  it('rolling restart of all 8 (SIGTERM, start again): the subscribers of the nodes up lose nothing, nobody is evicted', { timeout: 900_000 }, async () => {
    const stream = new NumberedStream(await wsClient(portOf(stack(), 1)), index, collection, uniqueName('rolling'));
    const subscribers = new Map<number, StreamSubscriber>();
    const retired: StreamSubscriber[] = [];
    for (const node of ALL) subscribers.set(node, await subscriberOn(node, `on ${node}`, stream));
    stream.start();
    for (const node of ALL) {
      const others = ALL.filter((n) => n !== node);
      const before = await snapshot(stack(), others);
      stream.usePublisher(await wsClient(portOf(stack(), node)));
      const mark = stream.position;
      await waitFor('messages through the node about to stop', () => stream.position > mark + 100);
      await retireAndStop(stack(), node, stream, subscribers.get(node), retired);
      stream.usePublisher(await wsClient(portOf(stack(), others[0] as number)));
      await waitMembers(stack(), others, NODES - 1, 15_000);
      stack().node(node).start();
      await stack().node(node).waitReady();
      await waitMembers(stack(), ALL, NODES, 60_000);
      const after = await snapshot(stack(), others);
      for (const other of others) {
        assert.deepEqual(after.get(other), before.get(other), `node ${other}: nobody evicted, never evicted itself, while node ${node} restarted`);
      }
      subscribers.set(node, await subscriberOn(node, `on ${node} after restart`, stream));
    }
    const last = subscribers.get(NODES);
    await waitFor('100 more messages', () => stream.position > (last?.from ?? 0) + 100);
    await stream.stop();
    await waitCounts([await wsClient(portOf(stack(), 1))], subscribers.get(1)?.roomId ?? '', NODES);
    await assertNoLoss(stream, [...retired, ...subscribers.values()]);
    await assertNoGhost(stack(), ALL);
  });
});
