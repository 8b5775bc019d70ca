import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SelfRepair } from '../../src/cluster/self-repair';
import type { NodeCard } from '../../src/membership/node-card';
import { StateAvailability } from '../../src/state/availability';
import type { Cancel, Scheduler } from '../../src/util/scheduler';
import { waitFor } from '../harness/wait';

/** A scheduler whose periodic tasks run when the test says. */
class ManualScheduler implements Scheduler {
  readonly periodic = new Map<number, () => void>();

  every(ms: number, task: () => void): Cancel {
    this.periodic.set(ms, task);
    return () => this.periodic.delete(ms);
  }

  after(): Cancel {
    return () => undefined;
  }

  tick(ms: number): void {
    const task = this.periodic.get(ms);
    if (!task) throw new Error(`no task every ${ms} ms`);
    task();
  }
}

describe('SelfRepair', () => {
  it('anti-entropy passes that outlast their period do not pile up: one waits behind the one running, the others are skipped', async () => {
    const scheduler = new ManualScheduler();
    let passes = 0;
    let finished = 0;
    let open = (): void => undefined;
    let gate = new Promise<void>((resolve) => (open = resolve));
    const sync = {
      findDrift: async () => {
        passes++;
        await gate;
        finished++;
        return [];
      },
      rewrite: async () => ({ rooms: 0, subscribers: 0 }),
      purgeOwner: async () => 0,
    };
    const repair = new SelfRepair(
      { check: async () => false },
      { owners: async () => [] },
      sync,
      () => ({ id: 'n1', incarnation: 1 }) as NodeCard,
      { stateLost: async () => undefined, catchUp: async () => undefined },
      new StateAvailability(),
      { epochMs: 1000, antiEntropyMs: 10_000, isLive: async () => true, scheduler, log: () => undefined },
    );
    await repair.start();
    scheduler.tick(10_000);
    await waitFor('the first pass to start', () => passes === 1);
    // Redis slow or down: the pass outlasts many periods.
    for (let i = 0; i < 5; i++) scheduler.tick(10_000);
    gate = Promise.resolve();
    open();
    await waitFor('the queued pass to end', () => finished === 2);
    // The chain moves on promises alone: a few turns let any further queued pass start.
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(passes, 2, 'one pass queued behind the running one, not five');
    scheduler.tick(10_000);
    await waitFor('the next period\'s pass', () => passes === 3);
    repair.stop();
  });
});
