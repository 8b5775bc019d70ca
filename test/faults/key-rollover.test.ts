import { before, describe, it } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { assertNoGhost, waitCounts, waitMembers } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber } from './support/numbered-stream';

/**
 * README's key rollover, under load: three rolling restarts (accept the new
 * key; serve with the new key and accept the old one; the new key alone),
 * with numbered notifications flowing the whole time. Subscribers of the
 * nodes that are not restarting lose nothing.
 */
describe('faults: rolling the CURVE key over a running cluster', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('rollover');
  const collection = 'c';

  before(async () => {
    await ensureCollection(await wsClient(portOf(stack(), 1)), index, collection);
  });

  it('three rolling restarts, no notification lost, the cluster whole after each step', { timeout: 900_000 }, async () => {
    const oldPair = stack().curveKeys;
    if (!oldPair) throw new Error('the stack runs with CURVE');
    const newPair = curveKeyPair();
    const steps = [
      { secretKey: oldPair.secretKey, accept: [newPair.publicKey] },
      { secretKey: newPair.secretKey, accept: [oldPair.publicKey] },
      { secretKey: newPair.secretKey },
    ];
    const stream = new NumberedStream(await wsClient(portOf(stack(), 1)), index, collection, uniqueName('stream'));
    const current = new Map<number, StreamSubscriber>();
    const retired: StreamSubscriber[] = [];
    for (const node of [1, 2, 3]) {
      const subscriber = new StreamSubscriber(`on ${node}`, await wsClient(portOf(stack(), node)));
      await subscriber.subscribe(stream);
      current.set(node, subscriber);
    }
    stream.start();
    for (const [step, curve] of steps.entries()) {
      for (const node of [1, 2, 3]) {
        // The publisher sits on a node that stays up during this restart.
        stream.usePublisher(await wsClient(portOf(stack(), (node % 3) + 1)));
        const leaving = current.get(node);
        if (leaving) {
          leaving.until = stream.position - 1;
          retired.push(leaving);
        }
        await stack().node(node).stop();
        stack().node(node).settings.clusterOptions = { ...stack().node(node).settings.clusterOptions, curve };
        stack().node(node).start();
        await stack().node(node).waitReady();
        await waitMembers(stack(), [1, 2, 3], 3);
        const back = new StreamSubscriber(`on ${node} after step ${step + 1}`, await wsClient(portOf(stack(), node)));
        await back.subscribe(stream);
        current.set(node, back);
        await waitFor('50 more messages', () => stream.position > back.from + 50);
      }
    }
    await stream.stop();
    await waitCounts([...current.values()].map((s) => s.client), current.get(1)?.roomId ?? '', 3);
    await assertNoLoss(stream, [...retired, ...current.values()]);
    await assertNoGhost(stack(), [1, 2, 3]);
  });
});
