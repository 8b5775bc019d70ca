import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel, PeerAnswer } from '../../src/bus/message-bus';
import { FailureDetector } from '../../src/membership/failure-detector';
import { MemberTable } from '../../src/membership/member-table';
import type { MEMBERSHIP_MESSAGES } from '../../src/membership/messages';
import type { NodeCard } from '../../src/membership/node-card';
import type { EmitMembershipEvent } from '../../src/membership/peer';
import { delay, waitFor } from '../harness/wait';
import { cardOf, recordedLinks } from '../support/membership-doubles';
import { PausableScheduler } from '../support/pausable-scheduler';
import type { Cancel, Scheduler } from '../../src/util/scheduler';
import { clock } from '../../src/util/clock';

type StandingAnswers = Array<PeerAnswer<{ member: boolean }>>;

/**
 * A detector with one member, 'peer', whose heartbeats go nowhere and whose
 * standing checks `answer` replies to; frozen past `pauseMs`, then running
 * again. Returns the suspicions raised about this node.
 */
async function pausedDetector(self: () => NodeCard, answer: () => Promise<StandingAnswers>, pauseMs: number) {
  const links = recordedLinks();
  const suspicions: Array<[string, number]> = [];
  const emit: EmitMembershipEvent = (event, ...args) => {
    if (event === 'self:suspect') suspicions.push(args as [string, number]);
  };
  const log = (): void => undefined;
  const table = new MemberTable(links, emit, { discoverTimeoutMs: 1000, log });
  table.add(cardOf('peer', 1));
  const channel = { publish: async () => undefined, requestEach: answer } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
  const scheduler = new PausableScheduler();
  const detector = new FailureDetector(table, links, channel, self, emit, scheduler, { heartbeatMs: 20, heartbeatTimeoutMs: 60, discoverTimeoutMs: 1000, log });
  detector.start();
  scheduler.pause();
  await delay(pauseMs); // the freeze itself
  scheduler.resume();
  return { detector, suspicions };
}

/** Periodic tasks run when the test says, at the time it sets (the detector's clock answers it meanwhile). */
class ClockedScheduler implements Scheduler {
  now = 0;
  private readonly periodic: Array<() => void> = [];
  private readonly once: Array<{ at: number; task: () => void }> = [];

  every(_ms: number, task: () => void): Cancel {
    this.periodic.push(task);
    return () => undefined;
  }

  after(ms: number, task: () => void): Cancel {
    this.once.push({ at: this.now + ms, task });
    return () => undefined;
  }

  /** Moves the clock to `at`, running each one-off task due on the way at its own time. */
  async advanceTo(at: number): Promise<void> {
    for (const due of this.once.filter((entry) => entry.at <= at).sort((a, b) => a.at - b.at)) {
      this.once.splice(this.once.indexOf(due), 1);
      this.now = due.at;
      due.task();
      await settle();
    }
    this.now = at;
  }

  /** {@link advanceTo}, then the periodic tasks. */
  async tickAt(at: number): Promise<void> {
    await this.advanceTo(at);
    for (const task of this.periodic) task();
    await settle();
  }
}

/** A few turns: what the tasks started on promises alone runs. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A detector on a clock the test moves (its monotonic clock answers it
 * while `run` runs), heartbeat 500 ms, with one member, 'peer': the heartbeats it sends
 * (counted as broadcasts once queued, as the transport counts them), the
 * broadcasts the test adds (`broadcast`), a closed connection to the peer
 * (`disconnect`), and the reasons peers were removed.
 */
async function onClock(run: (clocked: { scheduler: ClockedScheduler; detector: FailureDetector; table: MemberTable; heartbeats: number[]; removed: unknown[]; broadcast(): void; disconnect(): void }) => Promise<void>, heartbeatTimeoutMs = 60_000): Promise<void> {
  const scheduler = new ClockedScheduler();
  const realNow = clock.now;
  clock.now = () => scheduler.now;
  let sent = 0;
  const heartbeats: number[] = [];
  const removed: unknown[] = [];
  let onDisconnect: (peerId: string) => void = () => undefined;
  const links = { ...recordedLinks(), broadcastsSent: () => sent, onDisconnect: (listener: (peerId: string) => void) => void (onDisconnect = listener) };
  const log = (): void => undefined;
  const table = new MemberTable(links, (event, ...args) => {
    if (event === 'peer:removed') removed.push(args[1]);
  }, { discoverTimeoutMs: 1000, log });
  table.add(cardOf('peer', 1));
  const channel = {
    publish: async (type: string) => {
      await Promise.resolve();
      if (type === 'heartbeat') heartbeats.push(scheduler.now);
      sent++;
    },
    // Asked after a pause past the heartbeat timeout: nobody answers.
    requestEach: async () => [],
  } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
  const detector = new FailureDetector(table, links, channel, () => cardOf('self', 1), () => undefined, scheduler, { heartbeatMs: 500, heartbeatTimeoutMs, discoverTimeoutMs: 1000, log });
  detector.start();
  try {
    await run({ scheduler, detector, table, heartbeats, removed, broadcast: () => void sent++, disconnect: () => onDisconnect('peer') });
  } finally {
    detector.stop();
    clock.now = realNow;
  }
}

describe('FailureDetector', () => {
  it('an idle node sends a heartbeat every period (its own heartbeat does not postpone the next), and a broadcast postpones it by at most a period', async () => {
    await onClock(async ({ scheduler, heartbeats, broadcast }) => {
      for (let at = 250; at <= 1250; at += 250) await scheduler.tickAt(at);
      // A change broadcast between two ticks.
      await scheduler.advanceTo(1300);
      broadcast();
      for (let at = 1500; at <= 2500; at += 250) await scheduler.tickAt(at);
      assert.deepEqual(heartbeats, [500, 1000, 1750, 2250]);
    });
  });

  it('the wall clock set back (NTP, a resumed virtual machine) stops neither the heartbeats nor the judging of a silent peer: durations are read on a clock that never steps back', async () => {
    const realDateNow = Date.now;
    let wall = realDateNow();
    Date.now = () => wall;
    try {
      await onClock(async ({ scheduler, heartbeats, removed }) => {
        await scheduler.tickAt(500);
        wall -= 3_600_000; // an hour back
        for (let at = 750; at <= 1500; at += 250) await scheduler.tickAt(at);
        assert.deepEqual(heartbeats, [500, 1000, 1500]);
        // The peer, silent since 0, is judged at the timeout (60 s here), an hour of wall clock notwithstanding.
        for (let at = 1750; at <= 61_000; at += 250) await scheduler.tickAt(at);
        assert.deepEqual(removed, ['timeout']);
      });
    } finally {
      Date.now = realDateNow;
    }
  });

  it('a loop late at every tick (a loaded node, not a pause) still judges: a dead peer is evicted, only the first late tick is excused', async () => {
    await onClock(async ({ scheduler, removed }) => {
      // Ticks every 800 ms instead of 250 (over three tick periods late): the peer, silent since 0, is never heard.
      for (let at = 800; at <= 64_000 && removed.length === 0; at += 800) await scheduler.tickAt(at);
      assert.deepEqual(removed, ['timeout']);
    });
  });

  it('a loop stalled past the heartbeat timeout at every tick (the default timers) keeps a live peer, read right after each tick, and still evicts a dead one', async () => {
    const peer = { id: 'peer', incarnation: 1 };
    await onClock(async ({ scheduler, detector, removed }) => {
      for (let at = 2600; at <= 26_000; at += 2600) {
        await scheduler.tickAt(at);
        detector.noteAlive(peer); // what it sent during the stall, read once the tick ran
      }
      assert.deepEqual(removed, [], 'alive: heard after every tick');
      // It dies: nothing read after the next ticks.
      for (let at = 28_600; at <= 40_000 && removed.length === 0; at += 2600) await scheduler.tickAt(at);
      assert.deepEqual(removed, ['timeout']);
    }, 2500);
  });

  it('in a loop stalled at every tick, a live peer whose connection closed between two ticks is not evicted for it: what it sent since is unread', async () => {
    const peer = { id: 'peer', incarnation: 1 };
    await onClock(async ({ scheduler, detector, removed, disconnect }) => {
      for (const at of [2600, 5200]) {
        await scheduler.tickAt(at);
        detector.noteAlive(peer);
      }
      await scheduler.advanceTo(6000);
      disconnect(); // its heartbeats now come on its other connection, unread behind the stall
      for (let at = 7800; at <= 20_000; at += 2600) {
        await scheduler.tickAt(at);
        detector.noteAlive(peer);
      }
      assert.deepEqual(removed, []);
    }, 2500);
  });

  it('the extra tick that judges a closed connection leaves the heartbeat on the periodic ticks: a broadcast right after it postpones the heartbeat by at most a period', async () => {
    await onClock(async ({ scheduler, detector, table, heartbeats, broadcast, disconnect }) => {
      await scheduler.advanceTo(10);
      disconnect(); // judged by an extra tick at 761
      for (let at = 250; at <= 750; at += 250) await scheduler.tickAt(at);
      await scheduler.advanceTo(755);
      detector.noteAlive({ id: 'peer', incarnation: 1 }); // heard on its other connection
      await scheduler.advanceTo(765);
      broadcast(); // a change broadcast right after the extra tick
      for (let at = 1000; at <= 1500; at += 250) await scheduler.tickAt(at);
      assert.deepEqual(heartbeats, [500, 1250]);
      assert.equal(table.has('peer'), true);
    });
  });

  it('a peer whose connection closed is evicted only after a heartbeat and a tick of silence, so that a live one is heard first', async () => {
    await onClock(async ({ scheduler, detector, table, removed, disconnect }) => {
      await scheduler.tickAt(250);
      disconnect();
      await scheduler.tickAt(500);
      await scheduler.tickAt(752);
      assert.equal(table.get('peer')?.card.id, 'peer', 'not evicted within a heartbeat and a tick');
      // Its next heartbeat, on its other connection, a period and a late tick after its last one.
      detector.noteAlive({ id: 'peer', incarnation: 1 });
      for (let at = 1000; at <= 1500; at += 250) await scheduler.tickAt(at);
      assert.equal(table.get('peer')?.card.id, 'peer', 'heard: no longer judged by its closed connection');
      disconnect();
      for (let at = 1750; at <= 2500; at += 250) await scheduler.tickAt(at);
      assert.equal(table.get('peer'), undefined, 'silent for longer: evicted');
      assert.deepEqual(removed, ['connectionLost']);
    });
  });

  it('a member accusing each new incarnation at once makes this node join again once per two heartbeat timeouts, not at every accusation; another member\'s accusation still counts', async () => {
    let self = cardOf('self', 1);
    const { detector, suspicions } = await pausedDetector(() => self, async () => [], 0);
    try {
      detector.onAccused({ id: 'self', incarnation: 1 }, 'accused by liar', 'liar');
      assert.equal(suspicions.length, 1);
      self = cardOf('self', 2); // joined again; the liar accuses the new incarnation at once
      detector.onAccused({ id: 'self', incarnation: 2 }, 'accused by liar', 'liar');
      detector.onEvicted({ id: 'self', incarnation: 2 }, { id: 'liar', incarnation: 1 });
      assert.equal(suspicions.length, 1, 'ignored within two heartbeat timeouts (120 ms here)');
      detector.onEvicted({ id: 'self', incarnation: 2 }, { id: 'peer', incarnation: 1 });
      assert.equal(suspicions.length, 2, 'another member that evicted it is heard');
      self = cardOf('self', 3);
      await delay(150);
      detector.onAccused({ id: 'self', incarnation: 3 }, 'accused by liar', 'liar');
      assert.equal(suspicions.length, 3, 'heard again once the window passed');
    } finally {
      detector.stop();
    }
  });

  it('after a pause, answers about an incarnation this node already left raise no suspicion', async () => {
    let self = cardOf('self', 1);
    let reply: ((answers: StandingAnswers) => void) | undefined;
    // The standing check waits for the test to answer it.
    const { detector, suspicions } = await pausedDetector(() => self, () => new Promise((resolve) => (reply = resolve)), 150);
    try {
      await waitFor('the standing check after the pause', () => reply !== undefined);
      self = cardOf('self', 2); // meanwhile it was evicted, heard of it and joined again
      reply?.([{ peer: 'peer', reply: { member: false } }]); // the peer does not count incarnation 1 in
      // The answer is handled on promises alone: a few turns let a suspicion be raised, if any.
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      assert.deepEqual(suspicions, []);
    } finally {
      detector.stop();
    }
  });
});
