import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES, decodeEnvelope, encodeEnvelope } from '../../src/transport/codec';
import { FrameTooLargeError } from '../../src/transport/errors';
import { PROTOCOL_VERSION, type Envelope } from '../../src/transport/envelope';

const valid: Envelope = { v: PROTOCOL_VERSION, type: 'interest:add', from: 'node-a', inc: 7, seq: 3, body: { room: 'r1', n: [1, 2] } };

function frameOf(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

describe('codec', () => {
  it('round-trips broadcasts, requests and replies', () => {
    const request: Envelope = { ...valid, seq: 0, rid: 'b8a4f3f0-1', body: 'é🙂' };
    const reply: Envelope = { ...valid, seq: 0, re: 'b8a4f3f0-1', error: true, body: { code: 'KPC_X', message: 'boom' } };
    for (const envelope of [valid, request, reply]) {
      assert.deepEqual(decodeEnvelope(encodeEnvelope(envelope)), envelope);
    }
  });

  it('turns a missing body into null and drops unknown fields', () => {
    const decoded = decodeEnvelope(frameOf({ v: PROTOCOL_VERSION, type: 't', from: 'n', inc: 1, seq: 0, extra: 1 }));
    assert.deepEqual(decoded, { v: PROTOCOL_VERSION, type: 't', from: 'n', inc: 1, seq: 0, body: null });
  });

  it('rejects frames that are not JSON objects', () => {
    for (const text of ['', 'not json', '{"v":1', 'null', '42', '"str"', '[1,2]', 'true']) {
      assert.equal(decodeEnvelope(Buffer.from(text)), undefined, text);
    }
  });

  it('rejects a wrong or missing protocol version', () => {
    for (const v of [undefined, 0, PROTOCOL_VERSION + 1, String(PROTOCOL_VERSION), null]) {
      assert.equal(decodeEnvelope(frameOf({ ...valid, v })), undefined, String(v));
    }
  });

  it('rejects a type or from that is not a bounded non-empty string', () => {
    for (const field of ['type', 'from'] as const) {
      for (const value of [undefined, '', 1, null, {}, ['a'], 'x'.repeat(201)]) {
        assert.equal(decodeEnvelope(frameOf({ ...valid, [field]: value })), undefined, `${field}=${String(value)}`);
      }
      assert.ok(decodeEnvelope(frameOf({ ...valid, [field]: 'x'.repeat(200) })));
    }
  });

  it('rejects a seq or inc that is not a non-negative integer', () => {
    for (const field of ['seq', 'inc'] as const) {
      for (const value of [undefined, -1, 1.5, '1', null, Number.MAX_SAFE_INTEGER + 2]) {
        assert.equal(decodeEnvelope(frameOf({ ...valid, [field]: value })), undefined, `${field}=${String(value)}`);
      }
      assert.ok(decodeEnvelope(frameOf({ ...valid, [field]: 0 })));
    }
  });

  it('rejects rid, re and error of the wrong type', () => {
    for (const [field, value] of [
      ['rid', 1],
      ['rid', ''],
      ['rid', null],
      ['re', {}],
      ['re', 'x'.repeat(201)],
      ['error', 'yes'],
      ['error', 1],
    ] as const) {
      assert.equal(decodeEnvelope(frameOf({ ...valid, [field]: value })), undefined, `${field}=${String(value)}`);
    }
  });

  it('rejects frames over the size limit, and refuses to encode them', () => {
    assert.equal(DEFAULT_MAX_FRAME_BYTES, 1024 * 1024, 'frames of 1 MiB at most by default');
    assert.equal(DEFAULT_MAX_MESSAGE_BYTES, 16 * 1024 * 1024, 'messages (in fragments) of 16 MiB');
    const big = Buffer.alloc(DEFAULT_MAX_MESSAGE_BYTES + 1, 0x20);
    assert.equal(decodeEnvelope(big), undefined);
    assert.throws(() => encodeEnvelope({ ...valid, body: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) }), FrameTooLargeError);
    // A smaller configured limit applies both ways.
    const frame = encodeEnvelope({ ...valid, body: 'x'.repeat(2000) });
    assert.equal(decodeEnvelope(frame, 1024), undefined);
    assert.throws(() => encodeEnvelope({ ...valid, body: 'x'.repeat(2000) }, 1024), /maxMessageBytes/);
  });

  it('never throws on random garbage or mutated envelopes', () => {
    const good = encodeEnvelope(valid);
    for (let i = 0; i < 5000; i += 1) {
      const garbage = randomBytes(1 + (i % 200));
      assert.equal(decodeEnvelope(garbage), undefined);
      const mutated = Buffer.from(good);
      mutated[i % mutated.length] = garbage[0];
      const decoded = decodeEnvelope(mutated);
      if (decoded !== undefined) {
        assert.equal(decoded.v, PROTOCOL_VERSION);
        assert.equal(typeof decoded.type, 'string');
        assert.equal(typeof decoded.from, 'string');
        assert.ok(Number.isSafeInteger(decoded.seq) && decoded.seq >= 0);
      }
    }
  });
});

describe('request MACs', () => {
  it('a MAC closes the frame and covers the rest of it byte for byte; the decoder gives those bytes back', () => {
    const envelope = { ...valid, rid: 'r1', body: { mac: 'a field of the body', signed: 1, nested: { mac: 2 } } };
    let covered: Buffer | undefined;
    const frame = encodeEnvelope(envelope, undefined, (signed) => {
      covered = Buffer.from(signed);
      return 'TUFD';
    });
    const decoded = decodeEnvelope(frame);
    assert.equal(decoded?.mac, 'TUFD');
    assert.ok(covered && decoded?.signed?.equals(covered), 'the receiver reads back exactly what was signed');
    assert.deepEqual(decoded?.body, envelope.body, 'fields named mac inside the body are the body\'s');
    assert.equal(JSON.parse(covered.toString()).mac, undefined);
  });

  it('a MAC that does not close the frame covers nothing (a frame rearranged by hand is not signed)', () => {
    const frame = Buffer.from(JSON.stringify({ mac: 'TUFD', ...valid, rid: 'r1' }));
    const decoded = decodeEnvelope(frame);
    assert.equal(decoded?.mac, 'TUFD');
    assert.equal(decoded?.signed, undefined);
  });
});
