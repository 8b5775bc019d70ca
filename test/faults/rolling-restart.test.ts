import { before, describe, it } from 'node:test';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, retireAndStop, waitCounts, waitMembers } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber } from './support/numbered-stream';

/**
 * A rolling restart of every node (SIGTERM, then start again), each time
 * with the publisher connected to the node being stopped: what that node
 * acknowledged while draining reaches the subscribers of the other nodes.
 */
describe('faults: rolling restart of all 3 nodes under load', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('rolling');
  const collection = 'c';

  before(async () => {
    await ensureCollection(await wsClient(portOf(stack(), 1)), index, collection);
  });

  it('loses no notification for the subscribers of the nodes that stay up', { timeout: 600_000 }, async () => {
    const streamId = uniqueName('stream');
    const subscribers = new Map<number, StreamSubscriber>();
    const retired: StreamSubscriber[] = [];
    const stream = new NumberedStream(await wsClient(portOf(stack(), 1)), index, collection, streamId);
    for (const node of [1, 2, 3]) {
      const subscriber = new StreamSubscriber(`on ${node}`, await wsClient(portOf(stack(), node)));
      await subscriber.subscribe(stream);
      subscribers.set(node, subscriber);
    }
    stream.start();
    for (const node of [1, 2, 3]) {
      stream.usePublisher(await wsClient(portOf(stack(), node)));
      await waitFor('messages through the node about to stop', () => stream.position > 200 * node);
      // Health turns 503 while the node drains, so that the balancer moves traffic away.
      await retireAndStop(stack(), node, stream, subscribers.get(node), retired);
      const other = (node % 3) + 1;
      stream.usePublisher(await wsClient(portOf(stack(), other)));
      await waitMembers(stack(), [1, 2, 3].filter((n) => n !== node), 2, 15_000);
      stack().node(node).start();
      await stack().node(node).waitReady();
      await waitMembers(stack(), [1, 2, 3], 3);
      const back = new StreamSubscriber(`on ${node} after restart`, await wsClient(portOf(stack(), node)));
      await back.subscribe(stream);
      subscribers.set(node, back);
    }
    await waitFor('100 more messages', () => stream.position > (subscribers.get(3)?.from ?? 0) + 100);
    await stream.stop();
    const clients = [...subscribers.values()].map((s) => s.client);
    await waitCounts(clients, subscribers.get(1)?.roomId ?? '', 3);
    await assertNoLoss(stream, [...retired, ...subscribers.values()]);
    await assertNoGhost(stack(), [1, 2, 3]);
  });
});
