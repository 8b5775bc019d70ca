import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingEvents } from '../../src/sync/pending-events';

describe('PendingEvents', () => {
  it('forgets a settled event after two sweeps, and keeps one under way however long it takes', async () => {
    const pending = new PendingEvents<string>();
    try {
      let finish: () => void = () => undefined;
      const underWay = new Promise<void>((resolve) => (finish = resolve));
      pending.set('slow', 'slow event', underWay);
      pending.set('quick', 'quick event', Promise.resolve());
      await Promise.resolve();
      // Many sweeps: a Redis retried for minutes while the first call waits.
      for (let i = 0; i < 10; i++) pending.sweep();
      assert.equal(pending.get('quick'), undefined, 'settled, its second call did not come: forgotten');
      assert.equal(pending.get('slow'), 'slow event', 'under way: kept for its second call');
      finish();
      await underWay;
      pending.sweep();
      assert.equal(pending.get('slow'), 'slow event', 'settled: kept one more period');
      pending.sweep();
      assert.equal(pending.get('slow'), undefined);
      assert.equal(pending.size, 0);
    } finally {
      pending.stop();
    }
  });

  it('an event set again replaces the one kept, and forget drops it from both generations', () => {
    const pending = new PendingEvents<string>();
    try {
      pending.set('k', 'first', new Promise(() => undefined));
      pending.sweep();
      pending.set('k', 'second', Promise.resolve());
      assert.equal(pending.get('k'), 'second');
      pending.forget('k');
      assert.equal(pending.get('k'), undefined);
      assert.equal(pending.size, 0);
    } finally {
      pending.stop();
    }
  });
});
