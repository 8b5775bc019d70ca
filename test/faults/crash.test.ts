import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, statusOf, waitCounts, waitMembers } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber } from './support/numbered-stream';

/**
 * Crashes under a steady stream of numbered notifications (published through
 * node 1, ~100/s), with the default timers: subscribers of the nodes that
 * stay get every acknowledged message exactly once, counts are the same from
 * every node, and the shared state keeps nothing of the dead.
 */
describe('faults: kill -9, crash and restart on the same ports, SIGSTOP past the timeout', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('crash');
  const collection = 'c';
  let publisher: Kuzzle;
  let watcher1: Kuzzle;
  let watcher2: Kuzzle;

  before(async () => {
    publisher = await wsClient(portOf(stack(), 1));
    watcher1 = await wsClient(portOf(stack(), 1));
    watcher2 = await wsClient(portOf(stack(), 2));
    await ensureCollection(publisher, index, collection);
  });

  async function subscriberOn(node: number, name: string, stream: NumberedStream): Promise<StreamSubscriber> {
    const subscriber = new StreamSubscriber(name, await wsClient(portOf(stack(), node)));
    await subscriber.subscribe(stream);
    return subscriber;
  }

  it('kill -9 of a node: the others lose nothing, drop it and its subscribers, and take it back when it restarts', { timeout: 240_000 }, async () => {
    const stream = new NumberedStream(publisher, index, collection, uniqueName('kill'));
    const subs = [await subscriberOn(1, 'on 1', stream), await subscriberOn(2, 'on 2', stream), await subscriberOn(3, 'on 3', stream)];
    const room = subs[0]?.roomId ?? '';
    stream.start();
    await waitCounts([watcher1, watcher2], room, 3);
    await waitFor('a few messages', () => stream.acked.size > 100);
    const [, , onThree] = subs;
    assert.ok(onThree);
    onThree.until = stream.position - 1;
    await stack().node(3).kill();
    await waitMembers(stack(), [1, 2], 2, 10_000);
    await waitCounts([watcher1, watcher2], room, 2);
    await assertNoGhost(stack(), [1, 2]);
    await stack().node(3).start();
    await stack().node(3).waitReady();
    await waitMembers(stack(), [1, 2, 3], 3);
    const back = await subscriberOn(3, 'on 3 after restart', stream);
    await waitCounts([watcher1, watcher2, back.client], room, 3);
    await waitFor('100 more messages', () => stream.position > back.from + 100);
    await stream.stop();
    await assertNoLoss(stream, [subs[0] as StreamSubscriber, subs[1] as StreamSubscriber, back]);
    assert.equal(stream.failed.size, 0, 'the publisher never failed');
  });

  it('a node that stops answering (SIGSTOP) past the timeout is evicted, then rejoins and is notified again', { timeout: 240_000 }, async () => {
    const stream = new NumberedStream(publisher, index, collection, uniqueName('stop'));
    const subs = [await subscriberOn(1, 'on 1', stream), await subscriberOn(2, 'on 2', stream)];
    const frozenSub = await subscriberOn(3, 'on 3', stream);
    stream.start();
    await waitFor('a few messages', () => stream.acked.size > 50);
    const rejoinsBefore = (await statusOf(stack(), 3)).node.rejoins;
    stack().node(3).freeze();
    try {
      await waitMembers(stack(), [1, 2], 2, 15_000);
    } finally {
      stack().node(3).thaw();
    }
    await waitFor('node 3 to have joined again', async () => {
      const status = await statusOf(stack(), 3);
      return status.node.rejoins > rejoinsBefore && !status.node.resyncing && status.members === 3;
    }, { timeoutMs: 30_000 });
    await waitMembers(stack(), [1, 2, 3], 3);
    frozenSub.from = stream.position;
    await waitFor('100 more messages', () => stream.position > frozenSub.from + 100);
    await stream.stop();
    await assertNoLoss(stream, [...subs, frozenSub]);
    await assertNoGhost(stack(), [1, 2, 3]);
  });
});
