import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { receiveLoop, type ReceiveSocket } from '../../src/transport/receive-loop';

/** A socket with `count` messages, all there at once. */
function socketOf(count: number): ReceiveSocket {
  return {
    closed: false,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < count; i++) yield [Buffer.from(String(i))];
    },
  };
}

const context = { log: () => undefined, isClosed: () => false };

describe('receiveLoop pacing', () => {
  it('a flood of messages already there lets timers run at least every 10 ms or so', async () => {
    let timerRanAt: number | undefined;
    let handled = 0;
    const started = Date.now();
    setTimeout(() => {
      timerRanAt = handled;
    }, 0);
    // Each message keeps the thread busy 1 ms: 60 of them would starve the timer without pacing.
    await receiveLoop('flood', socketOf(60), () => {
      const until = Date.now() + 1;
      while (Date.now() < until);
      handled++;
    }, context);
    assert.ok(Date.now() - started >= 60);
    assert.ok(timerRanAt !== undefined && timerRanAt < 30, `the timer ran after ${String(timerRanAt)} of 60 messages`);
  });

  it('so do several loops flooded at once, each handling its messages asynchronously (peers flooding one node)', async () => {
    let timerRanAt: number | undefined;
    let handled = 0;
    setTimeout(() => {
      timerRanAt = handled;
    }, 0);
    const busy = async (): Promise<void> => {
      const until = Date.now() + 1;
      while (Date.now() < until);
      handled++;
      await Promise.resolve();
    };
    await Promise.all([1, 2, 3].map((n) => receiveLoop(`flood ${n}`, socketOf(40), busy, context)));
    assert.ok(timerRanAt !== undefined && timerRanAt < 60, `the timer ran after ${String(timerRanAt)} of 120 messages`);
  });
});
