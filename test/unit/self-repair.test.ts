import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SelfRepair } from '../../src/cluster/self-repair';
import type { NodeCard } from '../../src/membership/node-card';
import { StateAvailability } from '../../src/state/availability';
import type { IndexRepairOutcome, StaleSweep } from '../../src/state/realtime-store';
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

/** A SelfRepair whose anti-entropy passes run `findDrift` and find nothing else to do (unless told). */
function selfRepair(
  scheduler: Scheduler,
  findDrift: () => Promise<never[]>,
  availability = new StateAvailability(),
  more: {
    repairPending?: () => Promise<IndexRepairOutcome>;
    restoreEntries?: () => Promise<number>;
    owners?: () => Promise<string[]>;
    sweepStaleEntries?: (cursor: string, count: number) => Promise<StaleSweep>;
    log?: (level: string, message: string) => void;
  } = {},
): SelfRepair {
  return new SelfRepair(
    { check: async () => false },
    {
      owners: more.owners ?? (async () => []),
      repairPending: more.repairPending ?? (async () => ({ checked: 0 })),
      sweepStaleEntries: more.sweepStaleEntries ?? (async () => ({ cursor: '0', scanned: 0, stale: 0, corrupt: 0, unlisted: 0 })),
    },
    { findDrift, rewrite: async () => ({ rooms: 0, subscribers: 0 }), purgeOwner: async () => 0, restoreEntries: more.restoreEntries ?? (async () => 0) },
    () => ({ id: 'n1', incarnation: 1 }) as NodeCard,
    { stateLost: async () => undefined, catchUp: async () => undefined },
    availability,
    { epochMs: 1000, antiEntropyMs: 10_000, isLive: async () => true, scheduler, log: more.log ?? (() => undefined) },
  );
}

/** A drift check that finds nothing and counts the anti-entropy passes that ran it. */
function passCounter(): { count: number; findDrift: () => Promise<never[]> } {
  const counter = {
    count: 0,
    findDrift: async (): Promise<never[]> => {
      counter.count++;
      return [];
    },
  };
  return counter;
}

describe('SelfRepair', () => {
  it('anti-entropy passes that outlast their period do not pile up: one waits behind the one running, the others are skipped', async () => {
    const scheduler = new ManualScheduler();
    let passes = 0;
    let finished = 0;
    let open = (): void => undefined;
    let gate = new Promise<void>((resolve) => (open = resolve));
    const findDrift = async (): Promise<never[]> => {
      passes++;
      await gate;
      finished++;
      return [];
    };
    const repair = selfRepair(scheduler, findDrift);
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

  it('a pass queued when the node stops (its leave purges what a rewrite would write back) does not run', async () => {
    const scheduler = new ManualScheduler();
    let passes = 0;
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const findDrift = async (): Promise<never[]> => {
      passes++;
      await gate;
      return [];
    };
    const availability = new StateAvailability();
    const repair = selfRepair(scheduler, findDrift, availability);
    await repair.start();
    scheduler.tick(10_000);
    await waitFor('the first pass to start', () => passes === 1);
    // Redis answers again during the leave: a pass is queued behind the running one.
    availability.succeeded(availability.failed('probe', new Error('Connection is closed.')));
    repair.stop();
    open();
    for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(passes, 1);
  });

  it("each pass first checks again the index entries a step left in doubt: counted and logged, a failure does not stop the pass", async () => {
    const scheduler = new ManualScheduler();
    const replies: IndexRepairOutcome[] = [{ checked: 0 }, { checked: 2, error: new Error('Connection is closed.') }, { checked: 3 }];
    let calls = 0;
    let drifts = 0;
    const logs: string[] = [];
    const order: string[] = [];
    const findDrift = async (): Promise<never[]> => {
      drifts++;
      order.push('drift');
      return [];
    };
    const repair = selfRepair(scheduler, findDrift, new StateAvailability(), {
      repairPending: async () => {
        order.push('index');
        return replies[calls++] as IndexRepairOutcome;
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await repair.start();
    for (let pass = 1; pass <= 3; pass++) {
      scheduler.tick(10_000);
      await waitFor(`pass ${pass}`, () => calls === pass && drifts === pass);
    }
    assert.deepEqual(logs, [
      'info index entries of 2 room(s) checked again, after a step that had given up',
      'warn index check failed, tried again at the next pass: Connection is closed.',
      'info index entries of 3 room(s) checked again, after a step that had given up',
    ]);
    assert.equal(repair.stats.indexRepairs, 5, 'the rooms checked before a failure count too');
    assert.deepEqual(order, ['index', 'drift', 'index', 'drift', 'index', 'drift']);
    repair.stop();
  });

  it("every sixth pass, and the pass after an outage, checks the index entries of all the node's rooms: counted and logged", async () => {
    const scheduler = new ManualScheduler();
    const availability = new StateAvailability();
    const passes = passCounter();
    const checkedAt: number[] = [];
    const logs: string[] = [];
    const repair = selfRepair(scheduler, passes.findDrift, availability, {
      restoreEntries: async () => {
        checkedAt.push(passes.count);
        return passes.count === 6 ? 2 : 0;
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await repair.start();
    for (let pass = 1; pass <= 7; pass++) {
      scheduler.tick(10_000);
      await waitFor(`pass ${pass}`, () => passes.count === pass);
    }
    availability.succeeded(availability.failed('probe', new Error('Connection is closed.')));
    await waitFor('the pass after the outage', () => passes.count === 8 && checkedAt.length === 2);
    assert.deepEqual(checkedAt, [6, 8]);
    assert.equal(repair.stats.entriesRestored, 2);
    assert.ok(logs.includes('warn index entries of 2 room(s) of this node were missing (lost by Redis?): written back'), logs.join('\n'));
    repair.stop();
  });

  it('each pass takes one step of the walk over the room index, from where the last left it (the same place after a failure): counted and logged', async () => {
    const scheduler = new ManualScheduler();
    const logs: string[] = [];
    const asked: string[] = [];
    const replies: Array<StaleSweep | Error> = [
      { cursor: '17', scanned: 1000, stale: 3, corrupt: 0, unlisted: 0 },
      new Error('Connection is closed.'),
      { cursor: '42', scanned: 1000, stale: 0, corrupt: 2, unlisted: 0 },
      { cursor: '0', scanned: 12, stale: 0, corrupt: 0, unlisted: 0 },
    ];
    const repair = selfRepair(scheduler, async () => [], new StateAvailability(), {
      sweepStaleEntries: async (cursor, count) => {
        asked.push(`${cursor}/${count}`);
        const reply = replies.shift();
        if (reply === undefined || reply instanceof Error) throw reply ?? new Error('no more steps');
        return reply;
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await repair.start();
    for (let pass = 1; pass <= 5; pass++) {
      scheduler.tick(10_000);
      await waitFor(`pass ${pass}`, () => asked.length === pass);
    }
    assert.deepEqual(asked, ['0/1000', '17/1000', '17/1000', '42/1000', '0/1000']);
    await waitFor("the last pass's failure", () => logs.length >= 4);
    assert.equal(repair.stats.staleEntriesRemoved, 5);
    assert.deepEqual(logs.slice(0, 3), [
      'info index sweep: the entries of 3 room(s) that no longer exist removed',
      'warn index sweep step failed, taken again at the next pass: Connection is closed.',
      'warn index sweep: 2 index entr(ies) that do not name a collection dropped',
    ]);
    repair.stop();
  });

  it('the index sweep takes its step even when the pass failed before it (a ghost purge, a rewrite)', async () => {
    const scheduler = new ManualScheduler();
    let steps = 0;
    const logs: string[] = [];
    const repair = selfRepair(scheduler, async () => [], new StateAvailability(), {
      owners: async () => Promise.reject(new Error('Connection is closed.')),
      sweepStaleEntries: async () => {
        steps++;
        return { cursor: '0', scanned: 0, stale: 0, corrupt: 0, unlisted: 0 };
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await repair.start();
    scheduler.tick(10_000);
    await waitFor('the sweep step', () => steps === 1);
    await waitFor('the failure logged', () => logs.some((line) => line.includes('Connection is closed.')));
    repair.stop();
  });

  it('an entry check that fails is run again at the next pass, and the pass goes on to its ghost sweep', async () => {
    const scheduler = new ManualScheduler();
    const passes = passCounter();
    let checks = 0;
    let sweeps = 0;
    const logs: string[] = [];
    const repair = selfRepair(scheduler, passes.findDrift, new StateAvailability(), {
      owners: async () => {
        sweeps++;
        return [];
      },
      restoreEntries: async () => {
        if (++checks === 1) throw new Error('Connection is closed.');
        return 0;
      },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
    await repair.start();
    for (let pass = 1; pass <= 8; pass++) {
      scheduler.tick(10_000);
      await waitFor(`pass ${pass}`, () => passes.count === pass && sweeps === pass);
    }
    assert.equal(checks, 2, 'the sixth pass failed, the seventh checked again, the eighth did not');
    assert.ok(logs.includes("warn index entries of this node's rooms not checked, tried again at the next pass: Connection is closed."), logs.join('\n'));
    repair.stop();
  });

  it('a leaving node checks its index entries in doubt once more, without waiting for the pass under way, although its repairs are stopped', async () => {
    const scheduler = new ManualScheduler();
    const order: string[] = [];
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const logs: string[] = [];
    const replies: IndexRepairOutcome[] = [{ checked: 0 }, { checked: 4, error: new Error('Connection is closed.') }];
    const repair = selfRepair(
      scheduler,
      async () => {
        order.push('drift');
        await gate;
        return [];
      },
      new StateAvailability(),
      {
        repairPending: async () => {
          order.push('index');
          return replies.shift() ?? { checked: 0 };
        },
        log: (level, message) => logs.push(`${level} ${message}`),
      },
    );
    await repair.start();
    scheduler.tick(10_000);
    await waitFor('the pass under way', () => order.length === 2);
    repair.stop();
    await repair.repairBeforeLeaving();
    assert.deepEqual(order, ['index', 'drift', 'index'], 'done while the pass still waits');
    open();
    assert.equal(repair.stats.indexRepairs, 4);
    assert.deepEqual(logs, [
      'info index entries of 4 room(s) checked again, after a step that had given up',
      "warn index check failed, left unchecked by this node's leave: Connection is closed.",
    ]);
  });
});
