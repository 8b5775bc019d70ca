import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { receiveLoop, type ReceiveSocket } from '../../src/transport/receive-loop';

/** A socket whose messages come `gapMs` apart (0: all there at once), `count` of them. */
function socketOf(count: number, gapMs: number): ReceiveSocket {
  return {
    closed: false,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < count; i++) {
        if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
        yield [Buffer.from(String(i))];
      }
    },
  };
}

const context = { log: () => undefined, isClosed: () => false };

/** Counts the loop's yields to the event loop (it yields through setImmediate). */
async function countingImmediates<T>(run: () => Promise<T>): Promise<{ result: T; immediates: number }> {
  const real = global.setImmediate;
  let immediates = 0;
  global.setImmediate = ((...args: Parameters<typeof setImmediate>) => {
    immediates++;
    return real(...args);
  }) as typeof setImmediate;
  try {
    return { result: await run(), immediates };
  } finally {
    global.setImmediate = real;
  }
}

describe('receiveLoop pacing', () => {
  it('a flood of messages already there lets timers run at least every 10 ms or so', async () => {
    let timerRanAt: number | undefined;
    let handled = 0;
    const started = Date.now();
    setTimeout(() => {
      timerRanAt = handled;
    }, 0);
    // Each message keeps the thread busy 1 ms: 60 of them would starve the timer without pacing.
    await receiveLoop('flood', socketOf(60, 0), () => {
      const until = Date.now() + 1;
      while (Date.now() < until);
      handled++;
    }, context);
    assert.ok(Date.now() - started >= 60);
    assert.ok(timerRanAt !== undefined && timerRanAt < 30, `the timer ran after ${String(timerRanAt)} of 60 messages`);
  });

  it('messages that come apart (an idle cluster: heartbeats) are read with no extra turn of the event loop', async () => {
    let handled = 0;
    const { immediates } = await countingImmediates(() =>
      receiveLoop('idle', socketOf(20, 5), () => {
        handled++;
      }, context),
    );
    assert.equal(handled, 20);
    assert.equal(immediates, 0, 'the loop waited for each message: the event loop ran meanwhile');
  });
});
