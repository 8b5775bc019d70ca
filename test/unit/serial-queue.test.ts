import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SerialQueue } from '../../src/util/serial-queue';

describe('SerialQueue', () => {
  it('runs pieces one at a time, in order; a failure does not stop the next', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    let running = 0;
    const piece = (name: string, fail = false) => async (): Promise<string> => {
      assert.equal(++running, 1, 'one at a time');
      await new Promise<void>((resolve) => setImmediate(resolve));
      log.push(name);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([queue.run(piece('a')), queue.run(piece('b', true)), queue.run(piece('c'))]);
    assert.deepEqual(log, ['a', 'b', 'c']);
    assert.deepEqual(results.map((result) => result.status), ['fulfilled', 'rejected', 'fulfilled']);
  });

  it('a piece of a kind already waiting is shared, not queued twice; once started, the next one queues', async () => {
    const queue = new SerialQueue();
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let runs = 0;
    const work = async (): Promise<number> => {
      await gate;
      return ++runs;
    };
    // Something runs first, so that the piece of kind k waits for its turn.
    const ahead = queue.run(() => gate);
    const first = queue.once('k', work);
    assert.equal(queue.once('k', work), first, 'shared while waiting');
    open();
    await ahead;
    await new Promise<void>((resolve) => setImmediate(resolve)); // first has started
    const next = queue.once('k', work);
    assert.notEqual(next, first, 'once started, another one queues');
    assert.deepEqual([await first, await next], [1, 2]);
  });

  it('with holdAtMostMs, a piece that takes longer no longer holds the next', async () => {
    const queue = new SerialQueue(20);
    void queue.run(() => new Promise<void>(() => undefined)); // never settles
    assert.equal(await queue.run(async () => 'next'), 'next');
  });
});
