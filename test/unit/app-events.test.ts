import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KuzzleLike } from '../../src/plugin/kuzzle-types';
import { AppEvents } from '../../src/plugin/kuzzle-sync/app-events';
import type { KuzzleChannel } from '../../src/plugin/kuzzle-sync/kuzzle-channel';
import { FrameTooLargeError } from '../../src/transport/errors';

/** Kuzzle's asks as AppEvents registers them, and a channel that refuses what is over `maxBytes` as the transport does. */
function appEvents(maxBytes: number) {
  const asks = new Map<string, (...args: unknown[]) => unknown>();
  const kuzzle = { onAsk: (name: string, handler: (...args: unknown[]) => unknown) => void asks.set(name, handler) } as unknown as KuzzleLike;
  const sent: unknown[] = [];
  const channel = {
    publishOrFail: async (_type: string, body: unknown) => {
      const bytes = Buffer.byteLength(JSON.stringify(body));
      if (bytes > maxBytes) throw new FrameTooLargeError('kuzzle:app:event', bytes, maxBytes);
      sent.push(body);
    },
  } as unknown as KuzzleChannel;
  new AppEvents(channel, kuzzle);
  const broadcast = (event: unknown, payload: unknown) => Promise.resolve(asks.get('cluster:event:broadcast')?.(event, payload));
  return { broadcast, sent };
}

describe('AppEvents: app.cluster.broadcast', () => {
  it('a payload that cannot be sent (too large, or not JSON) fails the caller\'s broadcast instead of resolving as if the other nodes got it', async () => {
    const { broadcast, sent } = appEvents(1024);
    await broadcast('small', { n: 1 });
    assert.deepEqual(sent, [{ event: 'small', payload: { n: 1 } }]);
    await assert.rejects(broadcast('big', { pad: 'x'.repeat(4096) }), FrameTooLargeError);
    await assert.rejects(broadcast('bigint', { n: BigInt(1) }), TypeError);
    await assert.rejects(broadcast('', {}), /event name/);
    assert.equal(sent.length, 1);
  });
});
