import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { curveKeyPair, Dealer, Subscriber } from 'zeromq';
import { encodeEnvelope } from '../../src/transport/codec';
import { PROTOCOL_VERSION, type Envelope } from '../../src/transport/envelope';
import { ensureCollection, portOf, uniqueName, useStack, wsClient } from '../functional/support/fixture';
import { waitFor } from '../harness/wait';
import { statusOf, waitCounts } from './support/cluster-checks';
import { assertNoLoss, NumberedStream, StreamSubscriber } from './support/numbered-stream';

/** Every message type of the plugin, with bodies of the wrong shape. */
const TYPES = [
  'join', 'member:check', 'heartbeat', 'node:leave', 'node:evicted', 'node:accused',
  'change:documents', 'notify:user', 'reset:local',
  'kuzzle:index:add', 'kuzzle:index:remove', 'kuzzle:index:snapshot', 'kuzzle:security:invalidate', 'kuzzle:token:revoke',
  'kuzzle:validation:reload', 'kuzzle:strategy:add', 'kuzzle:strategy:remove', 'kuzzle:admin:dump', 'kuzzle:admin:shutdown', 'kuzzle:app:event',
];
const SHAPES: unknown[] = [null, 42, 'x', [], [1, 2], {}, { card: 'x' }, { index: 7 }, { roomIds: 'r' }, { index: 'i', collection: 'c', action: 'update', request: { data: {}, options: {} }, documents: [null] }];

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T;

/**
 * A hostile network, while clients are served: strangers without the key
 * (ZeroMQ sockets and raw TCP writing garbage), and an insider holding the
 * key but not registered as a node, sending garbage, truncated, oversized,
 * multi-frame, badly shaped, spoofed and replayed messages to every node.
 * Nothing crashes, nobody is evicted, no notification is lost or invented,
 * and every refusal is counted by reason.
 */
describe('faults: a hostile network hammering the cluster ports', () => {
  const stack = useStack({ nodes: 3, clusterOptions: { maxFrameBytes: 1_048_576 } });
  const index = uniqueName('hostile');
  const collection = 'c';
  let publisher: Kuzzle;

  before(async () => {
    publisher = await wsClient(portOf(stack(), 1));
    await ensureCollection(publisher, index, collection);
  });

  it('keeps serving, loses and invents nothing, evicts nobody, counts every refusal', { timeout: 300_000 }, async () => {
    const stream = new NumberedStream(publisher, index, collection, uniqueName('stream'));
    const subs: StreamSubscriber[] = [];
    const unexpected: unknown[] = [];
    for (const node of [1, 2, 3]) {
      const subscriber = new StreamSubscriber(`on ${node}`, await wsClient(portOf(stack(), node)));
      await subscriber.subscribe(stream);
      subs.push(subscriber);
      // Anything else delivered on this connection would be an invented notification.
      await subscriber.client.realtime.subscribe(index, collection, { exists: 'forged' }, (n: unknown) => void unexpected.push(n));
    }
    const before = await Promise.all([1, 2, 3].map((node) => statusOf(stack(), node)));
    const ids = before.map((s) => s.node.id);
    const keys = stack().curveKeys;
    assert.ok(keys);
    const ports = [1, 2, 3].map((node) => stack().node(node).settings.ports);
    stream.start();

    const sockets: Array<{ close(): void }> = [];
    const strangers: Array<{ close(): void }> = [];
    const deadline = Date.now() + 20_000;
    const insider = ports.map((port) => {
      const dealer = new Dealer({ linger: 0, routingId: 'insider', curveServerKey: keys.publicKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey, sendTimeout: 200 });
      dealer.connect(`tcp://127.0.0.1:${port.router}`);
      sockets.push(dealer);
      return dealer;
    });
    const send = (dealer: Dealer, frames: Buffer[]): Promise<void> => dealer.send(frames).catch(() => undefined);
    const envelope = (fields: Partial<Envelope>): Buffer =>
      encodeEnvelope({ v: PROTOCOL_VERSION, type: pick(TYPES), from: 'insider', inc: 1, seq: 0, rid: randomBytes(4).toString('hex'), body: pick(SHAPES), ...fields }, 2_000_000);
    let rounds = 0;
    while (Date.now() < deadline) {
      rounds++;
      for (const [i, dealer] of insider.entries()) {
        const valid = envelope({});
        await send(dealer, [randomBytes(1 + Math.floor(Math.random() * 300))]); // garbage
        await send(dealer, [valid.subarray(0, Math.floor(valid.length / 2))]); // truncated
        await send(dealer, [valid, valid]); // two frames
        await send(dealer, [envelope({ from: pick(ids) })]); // spoofed member
        await send(dealer, [valid]); // wrong shape, then replayed
        await send(dealer, [valid]);
        if (rounds % 20 === 0) await send(dealer, [envelope({ body: 'x'.repeat(1_200_000) })]); // over maxFrameBytes
        // Strangers: a ZeroMQ socket without the key, and raw TCP bytes, on both ports.
        if (rounds % 10 === i) {
          const port = ports[i];
          assert.ok(port);
          const wrong = curveKeyPair();
          const stranger = new Dealer({
            linger: 0,
            sendTimeout: 200,
            routingId: pick(ids),
            ...(rounds % 20 === i ? {} : { curveServerKey: keys.publicKey, curvePublicKey: wrong.publicKey, curveSecretKey: wrong.secretKey }),
          });
          stranger.connect(`tcp://127.0.0.1:${port.router}`);
          await send(stranger, [envelope({ type: 'kuzzle:admin:shutdown', from: pick(ids) })]);
          const listener = new Subscriber({ linger: 0 });
          listener.subscribe();
          listener.connect(`tcp://127.0.0.1:${port.pub}`);
          strangers.push(stranger, listener);
          // Keep strangers' sockets open a while (they retry their handshakes),
          // but bounded: a ZeroMQ context holds at most 1023 sockets.
          while (strangers.length > 100) strangers.shift()?.close();
          for (const target of [port.router, port.pub]) {
            const raw = new Socket();
            raw.on('error', () => undefined);
            raw.connect(target, '127.0.0.1', () => raw.end(randomBytes(256)));
          }
        }
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const socket of [...sockets, ...strangers]) socket.close();
    const from = stream.position;
    await waitFor('100 more messages', () => stream.position > from + 100);
    await stream.stop();
    await assertNoLoss(stream, subs);
    assert.deepEqual(unexpected, [], 'no notification was invented');
    await waitCounts(subs.map((s) => s.client), subs[0]?.roomId ?? '', 3);
    const after = await Promise.all([1, 2, 3].map((node) => statusOf(stack(), node)));
    for (const [i, status] of after.entries()) {
      const earlier = before[i];
      assert.ok(earlier);
      assert.equal(status.members, 3, `node ${i + 1} still counts 3 members`);
      assert.deepEqual(status.evictions, earlier.evictions, `node ${i + 1} evicted nobody`);
      assert.equal(status.node.id, earlier.node.id);
      assert.ok(stack().node(i + 1).alive);
      const grew = (reason: string, of: (s: typeof status) => Record<string, number>) => (of(status)[reason] ?? 0) > (of(earlier)[reason] ?? 0);
      for (const reason of ['malformed', 'foreignSender', 'unauthenticated']) assert.ok(grew(reason, (s) => s.transport.dropped), `node ${i + 1} counted ${reason}`);
      // The insider has no registered identity: its requests are refused before their bodies are read.
      assert.ok(grew('unauthenticated', (s) => s.messages.dropped), `node ${i + 1} counted unauthenticated requests`);
    }
  });
});
