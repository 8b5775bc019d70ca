import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { MessageBus } from '../../src/bus/message-bus';
import { ChangeRelay } from '../../src/sync/change-relay';
import { REALTIME_MESSAGES } from '../../src/sync/messages';
import type { ChangeNotice, RealtimeHost } from '../../src/sync/realtime-host';
import { ZmqTransport } from '../../src/transport/zmq-transport';
import { waitFor } from '../harness/wait';

/** Small limits, so that a change of a few hundred kB is larger than a message. */
const LIMITS = { maxFrameBytes: 64 * 1024, maxMessageBytes: 256 * 1024 };

const transports: ZmqTransport[] = [];
after(() => Promise.all(transports.map((transport) => transport.close())));

const ignore = (): undefined => undefined;

/** A node on a real transport and bus; what its `change:documents` handler receives, in order. */
async function startNode(name: string) {
  const transport = new ZmqTransport({ nodeId: `${name}-${process.pid}`, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 }, ...LIMITS });
  transports.push(transport);
  const bus = new MessageBus(transport, () => undefined);
  bus.setMemberGate(() => true);
  const received: ChangeNotice[] = [];
  const channel = bus.register(REALTIME_MESSAGES, {
    'change:documents': (change) => {
      received.push(change);
    },
    'notify:user': ignore,
    'interest:add': () => ({}),
    'interest:remove': () => ({}),
    'interest:list': () => ({ collections: [] }),
    'reset:local': () => ({ rooms: 0, subscribers: 0 }),
  });
  return { transport, channel, received, addresses: await transport.bind() };
}

describe('ChangeRelay over the real transport', () => {
  it('a change larger than a message keeps its place: its parts reach the peer before its next chunk and before the next change of the collection', async () => {
    const a = await startNode('sender');
    const b = await startNode('receiver');
    b.transport.connect(a.transport.nodeId, a.addresses);
    const relay = new ChangeRelay({} as RealtimeHost, {
      channel: () => a.channel,
      recipients: () => ({ peers: [b.transport.nodeId], all: true }),
      stopped: () => false,
      log: () => undefined,
    });
    const change = (prefix: string, sizes: number[]) => ({
      index: 'i',
      collection: 'c',
      action: 'update' as const,
      documents: sizes.map((bytes, i) => ({ _id: `${prefix}${i}`, _source: { pad: 'x'.repeat(bytes) } })),
      request: () => ({ data: {}, options: {} }),
    });
    // Wait until the SUB is connected (slow joiner): a probe change arrives.
    await waitFor('the receiver to get the sender\'s changes', async () => {
      await relay.forward(change('probe', [0]));
      return b.received.length > 0;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    const before = b.received.length;
    // 150 documents: a first chunk of 100 of 4 kB (400 kB, over a message: split), a second of 50 small ones; then another change.
    const big = change('d', Array.from({ length: 150 }, (_, i) => (i < 100 ? 4096 : 10)));
    const sent = Promise.all([relay.forward(big), relay.forward(change('next', [10]))]);
    await sent;
    await waitFor('every document', () => b.received.slice(before).flatMap((c) => c.documents).filter((doc) => !String(doc._id).startsWith('probe')).length >= 151, { timeoutMs: 10_000 });
    const ids = b.received.slice(before).flatMap((c) => c.documents.map((doc) => String(doc._id))).filter((id) => !id.startsWith('probe'));
    assert.deepEqual(ids, [...big.documents.map((doc) => doc._id), 'next0'], 'every document once, in the order the changes were made');
    assert.ok(b.received.length - before >= 4, 'the first chunk travelled in parts');
    assert.equal(relay.counts.tooLarge, 0);
  });
});
