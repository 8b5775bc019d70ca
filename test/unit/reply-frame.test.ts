import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Envelope } from '../../src/transport/envelope';
import type { EnvelopeFields } from '../../src/transport/frame-writer';
import { replyFrame } from '../../src/transport/reply-frame';

describe('replyFrame', () => {
  it('an error reply carries the code and at most 1,000 characters of the message: one echoing a large request stays small enough to encode', async () => {
    const encoded: EnvelopeFields[] = [];
    const encode = (fields: EnvelopeFields): Buffer => {
      encoded.push(fields);
      return Buffer.from(JSON.stringify(fields));
    };
    const request = { v: 5, type: 'kuzzle:thing', from: 'n2', inc: 1, seq: 0, rid: 'r1', body: {} } as Envelope;
    const failures: unknown[] = [];
    await replyFrame(encode, async () => Promise.reject(new Error(`refused: ${'x'.repeat(100_000)}`)), request, 'r1', (error) => failures.push(error));
    const body = encoded[0]?.body as { code: string; message: string };
    assert.equal(encoded[0]?.error, true);
    assert.equal(body.message.length, 1000);
    assert.ok(body.message.startsWith('refused: xxx'));
    assert.equal(failures.length, 1, 'the whole cause goes to the log');
  });
});
