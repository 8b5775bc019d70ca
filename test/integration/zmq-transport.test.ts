import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { Dealer, Publisher, Router, Subscriber } from 'zeromq';

import { topicFrame } from '../../src/transport/addressing';
import { MARK_TYPE } from '../../src/transport/addressed-marks';
import { encodeEnvelope } from '../../src/transport/codec';
import { framesOf } from '../../src/transport/fragments';
import { PROTOCOL_VERSION, type Envelope, type NodeAddresses } from '../../src/transport/envelope';
import {
  PeerNotConnectedError,
  RemoteHandlerError,
  RequestTimeoutError,
  TransportClosedError,
} from '../../src/transport/errors';
import { ZmqTransport } from '../../src/transport/zmq-transport';
import type { ZmqTransportOptions } from '../../src/transport/zmq-transport-options';
import { waitFor } from '../harness/wait';
import { withTimeout } from '../../src/util/with-timeout';

interface Node {
  transport: ZmqTransport;
  addresses: NodeAddresses;
  /** Broadcasts received, in arrival order. */
  broadcasts: Envelope[];
}

const created: ZmqTransport[] = [];
const rawSockets: Array<{ close(): void }> = [];
let nextId = 0;

async function startNode(overrides: Partial<ZmqTransportOptions> = {}, host = '127.0.0.1'): Promise<Node> {
  nextId += 1;
  const transport = new ZmqTransport({
    nodeId: `node-${nextId}-${process.pid}`,
    router: { host, port: 0 },
    pub: { host, port: 0 },
    ...overrides,
  });
  created.push(transport);
  const broadcasts: Envelope[] = [];
  transport.onBroadcast((envelope) => {
    broadcasts.push(envelope);
  });
  const addresses = await transport.bind();
  return { transport, addresses, broadcasts };
}

/** Connects `from` to `to` and waits until `to`'s broadcasts reach `from` (SUB slow joiner). */
let probes = 0;

async function link(from: Node, to: Node): Promise<void> {
  from.transport.connect(to.transport.nodeId, to.addresses);
  // Only a probe sent now proves the link (earlier probes may already be in `from.broadcasts`).
  const probe = `probe-${++probes}`;
  await waitFor(
    `broadcasts from ${to.transport.nodeId} to reach ${from.transport.nodeId}`,
    async () => {
      await to.transport.publish('probe', probe);
      return from.broadcasts.some((e) => e.type === 'probe' && e.from === to.transport.nodeId && e.body === probe);
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
}

async function mesh(nodes: Node[]): Promise<void> {
  for (const a of nodes) for (const b of nodes) if (a !== b) await link(a, b);
}

function echoHandler(node: Node): void {
  node.transport.onRequest(async (request) => {
    // A random delay so that replies come back out of order.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
    return { type: `${request.type}:reply`, body: { echo: request.body, by: node.transport.nodeId } };
  });
}

async function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

after(async () => {
  for (const socket of rawSockets) socket.close();
  await Promise.all(created.map((transport) => transport.close()));
});

describe('ZmqTransport', () => {
  it('refuses a wildcard bind host without advertisedHost, and advertises it when given', async () => {
    assert.throws(
      () => new ZmqTransport({ nodeId: 'w', router: { host: '0.0.0.0', port: 0 }, pub: { host: '0.0.0.0', port: 0 } }),
      /advertisedHost/,
    );
    const node = await startNode({ advertisedHost: '127.0.0.1' }, '0.0.0.0');
    assert.match(node.addresses.router, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.match(node.addresses.pub, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(node.addresses.router, node.addresses.pub);
    assert.deepEqual(await node.transport.bind(), node.addresses, 'bind() again returns the same addresses');
    await node.transport.close();
  });

  describe('a three-node mesh', () => {
    let nodes: Node[] = [];

    it('connects in a full mesh', async () => {
      nodes = [await startNode(), await startNode(), await startNode()];
      for (const node of nodes) echoHandler(node);
      await mesh(nodes);
      for (const node of nodes) assert.equal(node.transport.peers().length, 2);
    });

    it('delivers 1000 broadcasts of each node to every peer, in order, without loss', async () => {
      const count = 1000;
      const firstSeq = new Map(nodes.map((n) => [n.transport.nodeId, n.transport.stats().published + 1]));
      await Promise.all(
        nodes.flatMap((n) => Array.from({ length: count }, (_, i) => n.transport.publish('data', { i }))),
      );
      for (const receiver of nodes) {
        for (const sender of nodes) {
          if (sender === receiver) continue;
          const from = sender.transport.nodeId;
          const data = await waitFor(
            `${count} broadcasts from ${from} at ${receiver.transport.nodeId}`,
            () => {
              const got = receiver.broadcasts.filter((e) => e.type === 'data' && e.from === from);
              return got.length >= count && got;
            },
            { timeoutMs: 15_000 },
          );
          assert.equal(data.length, count);
          const start = firstSeq.get(from) ?? 0;
          data.forEach((envelope, i) => {
            assert.deepEqual(envelope.body, { i });
            assert.equal(envelope.seq, start + i);
          });
        }
      }
      for (const node of nodes) assert.equal(node.transport.stats().dropped.malformed, 0);
    });

    it('delivers a message addressed to one peer to it alone, in order with the broadcasts', async () => {
      const [a, b, c] = nodes;
      const from = a.transport.nodeId;
      const cBefore = c.transport.stats();
      const aBefore = a.transport.stats();
      // Every third message a broadcast, the others addressed to b alone.
      for (let i = 0; i < 300; i++) {
        if (i % 3 === 0) void a.transport.publish('mix', { i });
        else void a.transport.publishTo([b.transport.nodeId], 'mix', { i });
      }
      await a.transport.publish('mix-end', null);
      const atB = await waitFor('b to receive the 300', () => b.broadcasts.some((e) => e.type === 'mix-end' && e.from === from) && b.broadcasts.filter((e) => e.type === 'mix'));
      assert.deepEqual(atB.map((e) => (e.body as { i: number }).i), Array.from({ length: 300 }, (_, i) => i), 'every message, in the order sent');
      // What a sent before its last broadcast reached c before it, if it reached c at all.
      await waitFor('c to receive the last broadcast', () => c.broadcasts.some((e) => e.type === 'mix-end' && e.from === from));
      const atC = c.broadcasts.filter((e) => e.type === 'mix');
      assert.deepEqual(atC.map((e) => (e.body as { i: number }).i), Array.from({ length: 100 }, (_, i) => i * 3), 'c got the broadcasts only');
      const cAfter = c.transport.stats();
      assert.equal(cAfter.received - cBefore.received, 101, 'the messages addressed to b never reached c\'s socket');
      assert.equal(cAfter.gaps[from] ?? 0, cBefore.gaps[from] ?? 0, 'nor does c see a gap for them');
      assert.equal(b.transport.stats().gaps[from] ?? 0, 0);
      const aAfter = a.transport.stats();
      assert.equal(aAfter.addressed - aBefore.addressed, 200);
      assert.equal(aAfter.published - aBefore.published, 101, 'addressed messages are not counted as broadcasts (a heartbeat is not spared for them)');
    });

    it('answers 200 concurrent requests, each with its own reply', async () => {
      const [a, b, c] = nodes;
      const requests = Array.from({ length: 200 }, (_, i) => {
        const target = i % 2 === 0 ? b : c;
        return a.transport
          .request(target.transport.nodeId, 'echo', { i }, 10_000)
          .then((reply) => ({ reply, target, i }));
      });
      for (const { reply, target, i } of await Promise.all(requests)) {
        assert.equal(reply.type, 'echo:reply');
        assert.equal(reply.from, target.transport.nodeId);
        assert.deepEqual(reply.body, { echo: { i }, by: target.transport.nodeId });
      }
      assert.ok(a.transport.stats().requestsSent >= 200);
      assert.ok(b.transport.stats().requestsReceived >= 100);
    });

    it('rejects with RemoteHandlerError when the handler throws, and keeps serving', async () => {
      const [a, b] = nodes;
      b.transport.onRequest(async (request) => {
        if (request.type === 'fail') throw new Error('handler exploded');
        return { type: 'ok', body: null };
      });
      const failure = await a.transport.request(b.transport.nodeId, 'fail', null, 5_000).then(
        () => assert.fail('should have been rejected'),
        (error: unknown) => error,
      );
      assert.ok(failure instanceof RemoteHandlerError);
      assert.match(failure.message, /handler exploded/);
      assert.equal(failure.peerId, b.transport.nodeId);
      assert.equal(failure.code, 'KPC_INTERNAL', 'a plain error travels with the generic code');
      assert.equal((await a.transport.request(b.transport.nodeId, 'other', null, 5_000)).type, 'ok');
      echoHandler(b);
    });

    it('rejects a request to an unknown peer with PeerNotConnectedError', async () => {
      await assert.rejects(nodes[0].transport.request('nobody', 'echo', null, 1_000), PeerNotConnectedError);
    });

    it('counts garbage sent to the ROUTER as malformed and keeps working', async () => {
      const [a, b] = nodes;
      const raw = new Dealer({ linger: 0 });
      rawSockets.push(raw);
      raw.connect(b.addresses.router);
      const before = b.transport.stats().dropped.malformed;
      const junk: Buffer[][] = [
        [randomBytes(64)],
        [Buffer.from('{"v":2,"type":"t","from":"x","inc":0,"seq":0,"body":null}')], // no rid
        [Buffer.from('{}')],
        [encodeEnvelope({ v: PROTOCOL_VERSION, type: 't', from: 'x', inc: 0, seq: 0, rid: 'r', body: null }), Buffer.from('extra')],
        [Buffer.alloc(0)],
      ];
      for (const frames of junk) await raw.send(frames);
      await waitFor('junk to be counted', () => b.transport.stats().dropped.malformed >= before + junk.length, {
        timeoutMs: 5_000,
      });
      assert.equal(b.transport.stats().dropped.malformed, before + junk.length);
      const reply = await a.transport.request(b.transport.nodeId, 'echo', 'still alive', 5_000);
      assert.deepEqual(reply.body, { echo: 'still alive', by: b.transport.nodeId });
    });

    it('a subscription longer than any topic a node subscribes to is refused by the PUB: the connection sending it is dropped before it is buffered, and peers still receive', async () => {
      const [a, b] = nodes;
      const raw = new Subscriber({ linger: 0 });
      rawSockets.push(raw);
      let disconnects = 0;
      raw.events.on('disconnect', () => void disconnects++);
      raw.subscribe(`@${'x'.repeat(64 * 1024)}`);
      raw.connect(b.addresses.pub);
      await waitFor('the PUB to drop the connection', () => disconnects > 0, { timeoutMs: 10_000 });
      const body = `after-${Date.now()}`;
      await waitFor('a to still receive b\'s broadcasts', async () => {
        await b.transport.publish('after', body);
        return a.broadcasts.some((envelope) => envelope.type === 'after' && envelope.body === body);
      }, { timeoutMs: 5_000, intervalMs: 50 });
    });

    it('counts garbage on the SUB path as malformed and keeps receiving broadcasts', async () => {
      const [a, b] = nodes;
      const rawPub = new Publisher({ linger: 0 });
      const rawRouter = new Router({ linger: 0 });
      rawSockets.push(rawPub, rawRouter);
      await rawPub.bind('tcp://127.0.0.1:*');
      await rawRouter.bind('tcp://127.0.0.1:*');
      b.transport.connect('junk-node', { router: rawRouter.lastEndpoint ?? '', pub: rawPub.lastEndpoint ?? '' });
      let probeSeq = 1;
      // Slow joiner: publish valid probes until one arrives; after that, frames
      // of this publisher arrive in order, so the counts below are exact.
      await waitFor(
        'the SUB to receive from the raw publisher',
        async () => {
          await rawPub.send(encodeEnvelope({ v: PROTOCOL_VERSION, type: 'sync', from: 'junk-node', inc: 1, seq: probeSeq++, body: null }));
          return b.broadcasts.some((e) => e.type === 'sync');
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      const before = b.transport.stats().dropped.malformed;
      // What matches none of the SUB's subscriptions (a broadcast starts with `{` or the
      // fragment mark, an addressed message with b's topic) is filtered by the publisher.
      await rawPub.send(Buffer.concat([Buffer.from('x'), randomBytes(31)]));
      await rawPub.send(Buffer.from('not json'));
      await rawPub.send([Buffer.from('two'), Buffer.from('frames')]);
      // What matches reaches the SUB, and is dropped as malformed.
      await rawPub.send(Buffer.concat([Buffer.from('{'), randomBytes(31)]));
      await rawPub.send(Buffer.from('{not json'));
      await rawPub.send([topicFrame(b.transport.nodeId, 1), Buffer.from('frames')]);
      await rawPub.send(Buffer.from(JSON.stringify({ v: 99, type: 't', from: 'junk-node', inc: 1, seq: probeSeq, body: null })));
      await rawPub.send(Buffer.from(JSON.stringify({ v: PROTOCOL_VERSION, type: 't', from: 'junk-node', inc: 1, seq: -1 })));
      const dropped = { ...b.transport.stats().dropped };
      const gaps: Array<[string, number, number]> = [];
      b.transport.onGap((peer, expected, received) => gaps.push([peer, expected, received]));
      // Valid, but not from the node this socket belongs to: dropped as a foreign sender.
      await rawPub.send(encodeEnvelope({ v: PROTOCOL_VERSION, type: 'spoof', from: 'stranger', inc: 1, seq: probeSeq + 1, body: null }));
      // A replayed sequence number is dropped; a jump is reported as a gap and delivered.
      await rawPub.send(encodeEnvelope({ v: PROTOCOL_VERSION, type: 'replayed', from: 'junk-node', inc: 1, seq: probeSeq - 1, body: null }));
      await rawPub.send(encodeEnvelope({ v: PROTOCOL_VERSION, type: 'fine', from: 'junk-node', inc: 1, seq: probeSeq + 5, body: 7 }));
      await waitFor('the valid junk-node broadcast', () => b.broadcasts.some((e) => e.type === 'fine'), {
        timeoutMs: 5_000,
      });
      const after = b.transport.stats();
      assert.equal(after.dropped.malformed, before + 5);
      assert.equal(after.dropped.foreignSender, dropped.foreignSender + 1);
      assert.equal(after.dropped.replayed, dropped.replayed + 1);
      assert.deepEqual(gaps, [['junk-node', probeSeq, probeSeq + 5]]);
      assert.equal(after.gaps['junk-node'], 5);
      assert.ok(!b.broadcasts.some((e) => e.type === 'spoof' || e.type === 'replayed'));

      // Messages addressed to b: their own sequence, in their topic, checked like broadcasts'.
      const addressed = (type: string): Buffer => encodeEnvelope({ v: PROTOCOL_VERSION, type, from: 'junk-node', inc: 1, seq: 0, body: null });
      await rawPub.send([topicFrame(b.transport.nodeId, 1), addressed('addr-1')]);
      await rawPub.send([topicFrame(b.transport.nodeId, 1), addressed('addr-replayed')]);
      await rawPub.send([Buffer.from(`@${b.transport.nodeId}\nabc`), addressed('addr-bad-topic')]);
      await rawPub.send([topicFrame(`${b.transport.nodeId}x`, 1), addressed('addr-other-node')]);
      await rawPub.send([topicFrame(b.transport.nodeId, 3), addressed('addr-3')]);
      await waitFor('the addressed junk-node messages', () => b.broadcasts.some((e) => e.type === 'addr-3'), { timeoutMs: 5_000 });
      const afterAddressed = b.transport.stats();
      assert.deepEqual(
        b.broadcasts.filter((e) => e.type.startsWith('addr-')).map((e) => e.type),
        ['addr-1', 'addr-3'],
        'a replay, a topic without a number and one for another node are not handled',
      );
      assert.equal(afterAddressed.dropped.replayed, after.dropped.replayed + 1);
      assert.equal(afterAddressed.dropped.malformed, after.dropped.malformed + 1, 'the topic for another node never reached b');
      assert.deepEqual(gaps.slice(1), [['junk-node', 2, 3]], 'a gap on the addressed stream is reported');
      assert.equal(afterAddressed.gaps['junk-node'], 6, 'missed messages of both streams');
      // A mark (what a peer sends after addressing this node) shows a loss with no later message: read here, handed to nobody.
      await rawPub.send([topicFrame(b.transport.nodeId, 5), addressed(MARK_TYPE)]);
      await waitFor('the mark to show the lost addressed message', () => gaps.length >= 3, { timeoutMs: 5_000 });
      assert.deepEqual(gaps.slice(2), [['junk-node', 4, 5]]);
      assert.ok(!b.broadcasts.some((e) => e.type === MARK_TYPE), 'a mark is not handed to the layers above');

      b.transport.disconnect('junk-node');
      b.transport.disconnect('junk-node');
      assert.ok(!b.transport.peers().includes('junk-node'));
      const marker = `after-junk-${Date.now()}`;
      await waitFor(
        'broadcasts from a to still reach b',
        async () => {
          await a.transport.publish(marker, null);
          return b.broadcasts.some((e) => e.type === marker);
        },
        { timeoutMs: 5_000 },
      );
    });

    it('after addressing a peer, a node sends it marks behind the message (numbered on the same stream), so that a loss shows without a later message', async () => {
      const [a, b] = nodes;
      const raw = new Subscriber({ linger: 0 });
      rawSockets.push(raw);
      raw.subscribe(`@${b.transport.nodeId}\n`);
      raw.connect(a.addresses.pub);
      const frames: Array<{ seq: number; type: string }> = [];
      void (async () => {
        for await (const [topic, message] of raw) {
          const seq = Number(String(topic).split('\n')[1]);
          frames.push({ seq, type: (JSON.parse(String(message)) as { type: string }).type });
        }
      })().catch(() => undefined);
      // Slow joiner: addressed messages until one arrives.
      await waitFor('the raw SUB to get a\'s addressed messages', async () => {
        await a.transport.publishTo([b.transport.nodeId], 'to-b', null);
        return frames.some((frame) => frame.type === 'to-b');
      }, { timeoutMs: 10_000, intervalMs: 50 });
      await waitFor('two marks after the last addressed message', () => {
        const last = frames.map((frame) => frame.type).lastIndexOf('to-b');
        return frames.slice(last + 1).filter((frame) => frame.type === MARK_TYPE).length >= 2;
      }, { timeoutMs: 5_000 });
      const seqs = frames.map((frame) => frame.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'marks take their numbers on the addressed stream, in order');
      assert.equal(b.transport.stats().gaps[a.transport.nodeId] ?? 0, 0, 'b, which gets them all, sees no gap');
    });

    it('drops a request whose sender is not the connection it came on (routing id)', async () => {
      const [, b] = nodes;
      const raw = new Dealer({ linger: 0, routingId: 'intruder' });
      rawSockets.push(raw);
      raw.connect(b.addresses.router);
      const before = b.transport.stats().dropped.foreignSender;
      const forged = encodeEnvelope({ v: PROTOCOL_VERSION, type: 'echo', from: nodes[0]?.transport.nodeId ?? 'x', inc: 1, seq: 0, rid: 'r1', body: null });
      await raw.send(forged);
      await waitFor('the forged request to be dropped', () => b.transport.stats().dropped.foreignSender === before + 1, { timeoutMs: 5_000 });
    });

    it('rejects pending requests of a peer on disconnect()', async () => {
      const [a, b] = nodes;
      b.transport.onRequest(() => new Promise(() => undefined));
      const receivedBefore = b.transport.stats().requestsReceived;
      const pending = a.transport.request(b.transport.nodeId, 'hang', null, 30_000);
      await waitFor('b to get the request', () => b.transport.stats().requestsReceived > receivedBefore);
      a.transport.disconnect(b.transport.nodeId);
      await assert.rejects(pending, PeerNotConnectedError);
      await assert.rejects(a.transport.request(b.transport.nodeId, 'echo', null, 1_000), PeerNotConnectedError);
      echoHandler(b);
      await link(a, b);
      assert.deepEqual((await a.transport.request(b.transport.nodeId, 'echo', 1, 5_000)).body, {
        echo: 1,
        by: b.transport.nodeId,
      });
    });

    it('times out requests to a closed peer within their timeout, without wedging later ones', async () => {
      const [a] = nodes;
      const dead = await startNode();
      echoHandler(dead);
      a.transport.connect(dead.transport.nodeId, dead.addresses);
      await a.transport.request(dead.transport.nodeId, 'echo', null, 5_000);
      await dead.transport.close();

      const timeoutMs = 300;
      const timeoutsBefore = a.transport.stats().timeouts;
      const started = Date.now();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => a.transport.request(dead.transport.nodeId, 'echo', null, timeoutMs)),
      );
      const elapsed = Date.now() - started;
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof RequestTimeoutError, String(result.reason));
        assert.equal(result.reason.timeoutMs, timeoutMs);
      }
      // Each waited for its own deadline, side by side: one after the other would take 20 × 300 ms at least.
      assert.ok(elapsed < 20 * timeoutMs, `took ${elapsed} ms`);
      assert.equal(a.transport.stats().timeouts, timeoutsBefore + 20);
      a.transport.disconnect(dead.transport.nodeId);
      // The live peers are unaffected.
      assert.ok(await a.transport.request(nodes[1].transport.nodeId, 'echo', null, 5_000));
    });

    it('close() is idempotent and rejects everything still pending', async () => {
      const [a, b, c] = nodes;
      c.transport.onRequest(() => new Promise(() => undefined));
      const pending = a.transport.request(c.transport.nodeId, 'hang', null, 30_000);
      const first = a.transport.close();
      const second = a.transport.close();
      assert.equal(first, second);
      await assert.rejects(pending, TransportClosedError);
      await first;
      await a.transport.close();
      await assert.rejects(a.transport.publish('x', null), TransportClosedError);
      await assert.rejects(a.transport.request(b.transport.nodeId, 'x', null, 1_000), TransportClosedError);
      await assert.rejects(a.transport.bind(), TransportClosedError);
      assert.throws(() => a.transport.connect(b.transport.nodeId, b.addresses), TransportClosedError);
      assert.deepEqual(a.transport.peers(), []);
      await Promise.all([b.transport.close(), c.transport.close()]);
    });
  });

  it('binds and talks over IPv6 loopback', async (t) => {
    if (!(await ipv6LoopbackAvailable())) {
      t.skip('no IPv6 loopback on this machine');
      return;
    }
    const a = await startNode({}, '::1');
    const b = await startNode({}, '[::1]');
    assert.match(a.addresses.router, /^tcp:\/\/\[::1\]:\d+$/);
    assert.match(b.addresses.pub, /^tcp:\/\/\[::1\]:\d+$/);
    echoHandler(b);
    await mesh([a, b]);
    const reply = await a.transport.request(b.transport.nodeId, 'echo', 'v6', 5_000);
    assert.deepEqual(reply.body, { echo: 'v6', by: b.transport.nodeId });
    await Promise.all([a.transport.close(), b.transport.close()]);
  });

  it('messages bigger than a frame travel in fragments, broadcasts and requests alike, in order with the rest; a peer\'s oversized frame is refused', async () => {
    const limits = { maxFrameBytes: 64 * 1024, maxMessageBytes: 4 * 1024 * 1024 };
    const a = await startNode(limits);
    const b = await startNode(limits);
    echoHandler(b);
    await mesh([a, b]);
    const big = randomBytes(1_500_000).toString('base64'); // about 2 MB of JSON: 31 fragments
    const before = b.broadcasts.length;
    await a.transport.publish('small', 1);
    await a.transport.publish('big', { big });
    await a.transport.publish('small', 2);
    // Addressed to b alone, in fragments too, between broadcasts.
    await a.transport.publishTo([b.transport.nodeId], 'big', { big });
    await a.transport.publish('small', 3);
    await waitFor('the five messages', () => b.broadcasts.slice(before).filter((envelope) => envelope.type !== 'probe').length >= 5);
    const got = b.broadcasts.slice(before).filter((envelope) => envelope.type !== 'probe').map((envelope) => (envelope.type === 'big' ? `big:${(envelope.body as { big: string }).big === big}` : `small:${String(envelope.body)}`));
    assert.deepEqual(got, ['small:1', 'big:true', 'small:2', 'big:true', 'small:3']);
    const reply = await a.transport.request(b.transport.nodeId, 'echo', { big }, 10_000);
    assert.equal((reply.body as { echo: { big: string } }).echo.big, big, 'a big request and its big reply');
    assert.equal(b.transport.stats().dropped.malformed, 0);
    assert.deepEqual(b.transport.stats().gaps, {}, 'fragments do not look like lost broadcasts');
    // Over maxMessageBytes: the sender hears of it at once (so that it can send in parts, in order), nothing is sent.
    assert.throws(() => a.transport.publish('huge', { huge: 'x'.repeat(5 * 1024 * 1024) }), /KPC_FRAME_TOO_LARGE|over the/);
    assert.throws(() => a.transport.publishTo([b.transport.nodeId], 'huge', { huge: 'x'.repeat(5 * 1024 * 1024) }), /KPC_FRAME_TOO_LARGE|over the/);
    await Promise.all([a.transport.close(), b.transport.close()]);
  });

  it('a connection claiming a member\'s node id as its routing id does not take the member\'s over: the member\'s replies still reach it', async () => {
    const a = await startNode();
    const b = await startNode();
    await mesh([a, b]);
    b.transport.onRequest(async (request) => ({ type: `${request.type}:reply`, body: request.body }));
    assert.deepEqual((await a.transport.request(b.transport.nodeId, 'before', 1, 5_000)).body, 1);
    // ROUTERs hand a routing id over to the last connection that claims it.
    const raw = new Dealer({ linger: 0, routingId: a.transport.nodeId });
    rawSockets.push(raw);
    raw.connect(b.addresses.router);
    await raw.send(encodeEnvelope({ v: PROTOCOL_VERSION, type: 'claim', from: a.transport.nodeId, inc: 1, seq: 0, rid: 'r1', body: null }));
    // Answered: its connection is in place on b's ROUTER.
    await withTimeout(raw.receive(), 5_000);
    assert.deepEqual((await a.transport.request(b.transport.nodeId, 'after', 2, 5_000)).body, 2);
    await Promise.all([a.transport.close(), b.transport.close()]);
  });

  it('messages left half-sent on the ROUTER (any connection past the handshake) do not crowd out the fragments of members\' broadcasts and requests', async () => {
    const limits = { maxFrameBytes: 64 * 1024, maxMessageBytes: 256 * 1024 };
    const a = await startNode(limits);
    const b = await startNode(limits);
    await mesh([a, b]);
    b.transport.onRequest(async (request) => ({ type: `${request.type}:reply`, body: { length: JSON.stringify(request.body).length } }));
    // Members ask each other small things first (a join): b then knows a's connection.
    await a.transport.request(b.transport.nodeId, 'hello', {}, 5_000);
    // Five connections each leave a message of nearly maxMessageBytes without its last fragment: about the whole budget of one reader (four such messages).
    const receivedBefore = b.transport.stats().bytesReceived;
    let stuckBytes = 0;
    for (let i = 0; i < 5; i++) {
      const raw = new Dealer({ linger: 0, routingId: `stuck-${i}` });
      rawSockets.push(raw);
      raw.connect(b.addresses.router);
      for (const frame of framesOf(randomBytes(limits.maxMessageBytes - 1024), i, limits).slice(0, -1)) {
        await raw.send(frame);
        stuckBytes += frame.length;
      }
    }
    // A send resolves once queued: wait until b has read them all.
    await waitFor('the half-sent messages to reach b', () => b.transport.stats().bytesReceived - receivedBefore >= stuckBytes);
    const big = randomBytes(100_000).toString('base64'); // about 133 kB of JSON: several fragments
    const before = b.broadcasts.length;
    await waitFor('a member\'s fragmented broadcast to come through', async () => {
      await a.transport.publish('big', { big });
      return b.broadcasts.slice(before).some((envelope) => envelope.type === 'big');
    }, { timeoutMs: 10_000, intervalMs: 200 });
    // The same on the ROUTER, where the stuck messages are: a member's request in fragments is not refused for want of room.
    const reply = await a.transport.request(b.transport.nodeId, 'big', { big }, 5_000);
    assert.deepEqual(reply.body, { length: JSON.stringify({ big }).length });
    await Promise.all([a.transport.close(), b.transport.close()]);
  });

  it('big broadcasts of five peers left half-read at once all come through: each peer keeps its own room for fragments, none crowds out another', async () => {
    // Small frames: all but the last fragment of each message is nearly the whole message.
    const limits = { maxFrameBytes: 16 * 1024, maxMessageBytes: 256 * 1024 };
    const b = await startNode(limits);
    const peers: Array<{ id: string; pub: Publisher; seq: number }> = [];
    for (let i = 0; i < 5; i++) {
      const pub = new Publisher({ linger: 0 });
      const router = new Router({ linger: 0 });
      rawSockets.push(pub, router);
      await pub.bind('tcp://127.0.0.1:*');
      await router.bind('tcp://127.0.0.1:*');
      const id = `big-peer-${i}`;
      b.transport.connect(id, { router: router.lastEndpoint ?? '', pub: pub.lastEndpoint ?? '' });
      peers.push({ id, pub, seq: 0 });
    }
    const envelope = (peer: { id: string; seq: number }, type: string, body: unknown): Buffer => encodeEnvelope({ v: PROTOCOL_VERSION, type, from: peer.id, inc: 1, seq: ++peer.seq, body }, limits.maxMessageBytes);
    for (const peer of peers) {
      await waitFor(`${peer.id} to be heard`, async () => {
        await peer.pub.send(envelope(peer, 'probe', null));
        return b.broadcasts.some((e) => e.from === peer.id);
      }, { timeoutMs: 10_000, intervalMs: 20 });
    }
    // Each message nearly maxMessageBytes: five of them are more than four messages' worth.
    const messages = peers.map((peer, i) => ({ peer, frames: framesOf(envelope(peer, 'big', { pad: 'x'.repeat(limits.maxMessageBytes - 2048) }), i + 1, limits) }));
    const receivedBefore = b.transport.stats().bytesReceived;
    let sentBytes = 0;
    for (const { peer, frames } of messages) {
      for (const frame of frames.slice(0, -1)) {
        await peer.pub.send(frame);
        sentBytes += frame.length;
      }
    }
    await waitFor('b to hold the five half-sent messages', () => b.transport.stats().bytesReceived - receivedBefore >= sentBytes);
    for (const { peer, frames } of messages) await peer.pub.send(frames[frames.length - 1] ?? Buffer.alloc(0));
    await waitFor('the five big broadcasts', () => b.broadcasts.filter((e) => e.type === 'big').length >= 5, { timeoutMs: 10_000 });
    assert.equal(b.transport.stats().dropped.malformed, 0);
    await b.transport.close();
  });

  it('a held peer\'s broadcasts wait unread, in order, while its requests are still answered; released, they all come; closing while held does not hang', async () => {
    const a = await startNode();
    const b = await startNode();
    await mesh([a, b]);
    const from = a.transport.nodeId;
    let release = (): void => undefined;
    b.transport.onBroadcast((envelope) => {
      b.broadcasts.push(envelope);
      // What a handler does when too many of a peer's messages wait: hold the peer from the next one on.
      if (envelope.type === 'data' && (envelope.body as { i: number }).i === 5) b.transport.holdBroadcasts(from, new Promise<void>((resolve) => (release = resolve)));
    });
    b.transport.onRequest(async (request) => ({ type: `${request.type}:reply`, body: request.body }));
    const data = (): Envelope[] => b.broadcasts.filter((envelope) => envelope.type === 'data');
    const count = 200;
    for (let i = 0; i < count; i++) await a.transport.publish('data', { i });
    await waitFor('b to hold a', () => b.transport.holding(from));
    // Requests take the ROUTER: b still reads them, and each proves time passed on b's side.
    for (let i = 0; i < 20; i++) assert.deepEqual((await a.transport.request(b.transport.nodeId, 'ping', { i }, 5_000)).body, { i });
    assert.equal(data().length, 6, 'nothing read after the message that held a');
    release();
    await waitFor(`all ${count} broadcasts at b`, () => data().length === count, { timeoutMs: 10_000 });
    assert.deepEqual(data().map((envelope) => (envelope.body as { i: number }).i), Array.from({ length: count }, (_, i) => i), 'in order, none lost');
    assert.equal(b.transport.holding(from), false);
    assert.equal(b.transport.stats().gaps[from] ?? 0, 0);
    // Held by peer id: a link opened again for a held peer (evicted, then joined again) is held too.
    let releaseAgain = (): void => undefined;
    b.transport.holdBroadcasts(from, new Promise<void>((resolve) => (releaseAgain = resolve)));
    b.transport.disconnect(from);
    b.transport.connect(from, a.addresses);
    const more = 200;
    for (let i = count; i < count + more; i++) {
      await a.transport.publish('data', { i });
      // Round trips meanwhile: the new SUB connects (on loopback, within a few) while messages keep coming.
      if (i % 20 === 0) await a.transport.request(b.transport.nodeId, 'ping', { i }, 5_000);
    }
    assert.equal(data().length, count, 'nothing read on the new link while held');
    releaseAgain();
    await waitFor('what came while held, read once released', () => data().at(-1)?.body !== undefined && (data().at(-1)?.body as { i: number }).i === count + more - 1);
    const late = data().slice(count).map((envelope) => (envelope.body as { i: number }).i);
    assert.deepEqual(late, Array.from({ length: late.length }, (_, k) => count + more - late.length + k), 'in order, from the first the new link received');
    // Held forever (the hold never settles): closing still ends the receive loops.
    const before = data().length;
    await a.transport.publish('data', { i: count + more });
    await waitFor('b to read it', () => data().length === before + 1);
    b.transport.holdBroadcasts(from, new Promise<void>(() => undefined));
    await a.transport.publish('data', { i: count + more + 1 });
    await waitFor('b to read it, then wait on the hold', () => data().length === before + 2);
    await withTimeout(Promise.all([a.transport.close(), b.transport.close()]), 5_000);
  });
});
