import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SendTimeoutError, TransportClosedError } from '../../src/transport/errors';
import { SendQueue, type SendSocket } from '../../src/transport/send-queue';

/** A socket that, like zeromq v6, refuses a second send while one is in flight. */
class FakeSocket implements SendSocket {
  sendTimeout = -1;
  readonly sent: string[] = [];
  readonly timeouts: number[] = [];
  private inFlight = false;
  private blocked: Array<() => void> = [];
  block = false;

  async send(frames: Buffer[]): Promise<void> {
    if (this.inFlight) throw Object.assign(new Error('busy'), { code: 'EBUSY' });
    this.inFlight = true;
    this.timeouts.push(this.sendTimeout);
    try {
      if (this.block) {
        await new Promise<void>((resolve, reject) => {
          const timer = this.sendTimeout >= 0
            ? setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'EAGAIN' })), this.sendTimeout)
            : undefined;
          this.blocked.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      } else {
        await new Promise((resolve) => setImmediate(resolve));
      }
      this.sent.push(frames.map((frame) => frame.toString()).join('|'));
    } finally {
      this.inFlight = false;
    }
  }

  unblock(): void {
    this.block = false;
    for (const release of this.blocked.splice(0)) release();
  }
}

describe('SendQueue', () => {
  it('sends one message at a time, in order', async () => {
    const socket = new FakeSocket();
    const queue = new SendQueue(socket);
    const messages = Array.from({ length: 100 }, (_, i) => `m${i}`);
    await Promise.all(messages.map((m) => queue.enqueue([Buffer.from(m), Buffer.from('x')])));
    assert.deepEqual(socket.sent, messages.map((m) => `${m}|x`));
    assert.equal(queue.size, 0);
  });

  it('passes a failed send on to its caller and goes on with the next ones', async () => {
    let calls = 0;
    const queue = new SendQueue({
      sendTimeout: -1,
      send: async () => {
        calls += 1;
        if (calls === 2) throw new Error('nope');
      },
    });
    const results = await Promise.allSettled([1, 2, 3].map(() => queue.enqueue([Buffer.from('a')])));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  });

  it('rejects waiting and later sends after close()', async () => {
    const socket = new FakeSocket();
    socket.block = true;
    const queue = new SendQueue(socket);
    const first = queue.enqueue([Buffer.from('1')]);
    const second = queue.enqueue([Buffer.from('2')]);
    queue.close();
    queue.close();
    assert.equal(queue.closed, true);
    await assert.rejects(second, TransportClosedError);
    await assert.rejects(queue.enqueue([Buffer.from('3')]), /closed/);
    socket.unblock();
    await first;
    assert.deepEqual(socket.sent, ['1']);
  });

  it('bounds a blocked send by its deadline and skips messages whose deadline passed', async () => {
    const socket = new FakeSocket();
    socket.block = true;
    const queue = new SendQueue(socket);
    const started = Date.now();
    const deadline = Date.now() + 100;
    const first = queue.enqueue([Buffer.from('1')], { deadline });
    // Its deadline passes while the first blocks the socket: well before, so
    // that the clock's rounding when the first gives up cannot leave it a millisecond.
    const second = queue.enqueue([Buffer.from('2')], { deadline: deadline - 50 });
    await assert.rejects(first, SendTimeoutError);
    await assert.rejects(second, SendTimeoutError);
    assert.ok(Date.now() - started < 1000, 'the queue was wedged past the deadline');
    assert.equal(socket.timeouts.length, 1, 'the expired message must not reach the socket');
    assert.ok(socket.timeouts[0] > 0 && socket.timeouts[0] <= 100);

    socket.unblock();
    await queue.enqueue([Buffer.from('3')]);
    assert.equal(socket.timeouts.at(-1), -1, 'messages without deadline get the default sendTimeout back');
    assert.deepEqual(socket.sent, ['3']);
  });

  it('skips a message cancelled before its turn', async () => {
    const socket = new FakeSocket();
    socket.block = true;
    const queue = new SendQueue(socket);
    const first = queue.enqueue([Buffer.from('1')]);
    const cancellation = { cancelled: false, reason: undefined as Error | undefined };
    const second = queue.enqueue([Buffer.from('2')], { cancellation });
    cancellation.cancelled = true;
    cancellation.reason = new Error('caller gave up');
    socket.unblock();
    await first;
    await assert.rejects(second, /caller gave up/);
    assert.deepEqual(socket.sent, ['1']);
  });
});
