import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Channel } from '../../src/bus/message-bus';
import { ChangeRelay } from '../../src/sync/change-relay';
import type { REALTIME_MESSAGES } from '../../src/sync/messages';
import type { RealtimeHost } from '../../src/sync/realtime-host';
import { FrameTooLargeError } from '../../src/transport/errors';

type Doc = { _id: string; _source: { pad: string } };

/**
 * A relay whose channel refuses messages over `maxBytes` of JSON at once,
 * as the transport refuses frames over maxMessageBytes (its envelope left
 * out here), and hands the others over at once.
 */
function relayWithLimit(maxBytes: number) {
  const sent: string[][] = [];
  const send = (_type: string, change: { documents: Doc[] }): Promise<void> => {
    const bytes = Buffer.byteLength(JSON.stringify(change));
    if (bytes > maxBytes) throw new FrameTooLargeError('change:documents', bytes, maxBytes);
    sent.push(change.documents.map((doc) => doc._id));
    return Promise.resolve();
  };
  const channel = { publish: send, publishTo: (_peers: readonly string[], type: string, body: { documents: Doc[] }) => send(type, body) } as unknown as Channel<typeof REALTIME_MESSAGES>;
  const relay = new ChangeRelay({} as RealtimeHost, {
    channel: () => channel,
    recipients: () => ({ peers: ['n2'], all: true }),
    stopped: () => false,
    log: () => undefined,
  });
  // Sizes in kB of each document's source; multi-byte characters, measured as the transport measures them (UTF-8).
  const forward = (sizes: number[], prefix = 'd') =>
    relay.forward({ index: 'i', collection: 'c', action: 'update', documents: sizes.map((kb, i) => ({ _id: `${prefix}${i}`, _source: { pad: 'é'.repeat(kb * 512) } })), request: () => ({ data: {}, options: {} }) });
  return { relay, sent, forward };
}

describe('ChangeRelay: changes larger than a message', () => {
  it('a change too large for one message is sent in halves, down to what fits, every document once and in order', async () => {
    const { relay, sent, forward } = relayWithLimit(100 * 1024);
    await forward([30, 30, 30, 30, 30, 30, 90, 5]);
    assert.deepEqual(sent.flat(), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'], 'every document once, in order');
    assert.deepEqual(sent.map((ids) => ids.length), [3, 3, 2], 'as few messages as their sizes need');
    assert.equal(relay.counts.tooLarge, 0);
  });

  // The transport's side of this (it refuses at once, through the bus and channel) is tested over the real transport: integration/change-relay-zmq.
  it('given a channel that refuses a message at once, a split change keeps its place: its parts go before its next chunk and before the next change of the collection', async () => {
    const { sent, forward } = relayWithLimit(100 * 1024);
    // 150 documents: a first chunk of 100 of 4 kB each (400 kB: split), then a chunk of 50 small ones.
    const sizes = Array.from({ length: 150 }, (_, i) => (i < 100 ? 4 : 0));
    const first = forward(sizes);
    const second = forward([0], 'next');
    await Promise.all([first, second]);
    const ids = sent.flat();
    assert.equal(ids.length, 151);
    assert.deepEqual(ids, [...sizes.map((_, i) => `d${i}`), 'next0'], 'every document once, in the order the changes were made');
    assert.ok(sent.length > 3, 'the first chunk went in parts');
  });

  it('a document too large alone is counted and its error thrown (the caller logs it); the others of its change still go', async () => {
    const { relay, sent, forward } = relayWithLimit(100 * 1024);
    await assert.rejects(forward([10, 500, 10]), FrameTooLargeError);
    assert.deepEqual(sent, [['d0', 'd2']]);
    assert.equal(relay.counts.tooLarge, 1);
  });

  it('a publication larger than a message (nothing to split) is counted and its error thrown, not dropped silently', async () => {
    const { relay, sent } = relayWithLimit(1024);
    const publication = relay.forward({ index: 'i', collection: 'c', action: 'publish', documents: [], request: () => ({ data: { body: { pad: 'x'.repeat(4096) } }, options: {} }) });
    await assert.rejects(publication, FrameTooLargeError);
    assert.deepEqual(sent, []);
    assert.equal(relay.counts.tooLarge, 1);
  });
});
