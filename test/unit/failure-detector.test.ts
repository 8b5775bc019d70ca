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

/** Periodic tasks run when the test says, at the time it sets (Date.now answers it meanwhile). */
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

  /** Moves the clock to `at`, running what was due on the way, then the periodic tasks. */
  async tickAt(at: number): Promise<void> {
    this.now = at;
    for (const due of this.once.filter((entry) => entry.at <= at)) {
      this.once.splice(this.once.indexOf(due), 1);
      due.task();
    }
    for (const task of this.periodic) task();
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

describe('FailureDetector', () => {
  it('an idle node sends a heartbeat every period (its own heartbeat does not postpone the next), and a broadcast postpones it by at most a period', async () => {
    const scheduler = new ClockedScheduler();
    const realNow = Date.now;
    Date.now = () => scheduler.now;
    try {
      let sent = 0;
      const heartbeats: number[] = [];
      const links = { ...recordedLinks(), broadcastsSent: () => sent };
      const log = (): void => undefined;
      const table = new MemberTable(links, () => undefined, { discoverTimeoutMs: 1000, log });
      table.add(cardOf('peer', 1));
      const channel = {
        // As the transport counts them: once the frame is queued.
        publish: async (type: string) => {
          await Promise.resolve();
          if (type === 'heartbeat') heartbeats.push(scheduler.now);
          sent++;
        },
      } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
      const detector = new FailureDetector(table, links, channel, () => cardOf('self', 1), () => undefined, scheduler, { heartbeatMs: 500, heartbeatTimeoutMs: 60_000, discoverTimeoutMs: 1000, log });
      detector.start();
      for (let at = 250; at <= 1250; at += 250) await scheduler.tickAt(at);
      // A change broadcast between two ticks.
      scheduler.now = 1300;
      sent++;
      for (let at = 1500; at <= 2500; at += 250) await scheduler.tickAt(at);
      detector.stop();
      assert.deepEqual(heartbeats, [500, 1000, 1750, 2250]);
    } finally {
      Date.now = realNow;
    }
  });

  it('a peer whose connection closed is evicted only after a heartbeat and a tick of silence, so that a live one is heard first', async () => {
    const scheduler = new ClockedScheduler();
    const realNow = Date.now;
    Date.now = () => scheduler.now;
    try {
      let onDisconnect: (peerId: string) => void = () => undefined;
      const links = { ...recordedLinks(), onDisconnect: (listener: (peerId: string) => void) => void (onDisconnect = listener) };
      const log = (): void => undefined;
      const removed: unknown[] = [];
      const table = new MemberTable(links, (event, ...args) => {
        if (event === 'peer:removed') removed.push(args[1]);
      }, { discoverTimeoutMs: 1000, log });
      table.add(cardOf('peer', 1));
      const channel = { publish: async () => undefined } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
      const detector = new FailureDetector(table, links, channel, () => cardOf('self', 1), () => undefined, scheduler, { heartbeatMs: 500, heartbeatTimeoutMs: 60_000, discoverTimeoutMs: 1000, log });
      detector.start();
      await scheduler.tickAt(250);
      onDisconnect('peer');
      await scheduler.tickAt(500);
      await scheduler.tickAt(752);
      assert.equal(table.get('peer')?.card.id, 'peer', 'not evicted within a heartbeat and a tick');
      // Its next heartbeat, on its other connection, a period and a late tick after its last one.
      detector.noteAlive({ id: 'peer', incarnation: 1 });
      for (let at = 1000; at <= 1500; at += 250) await scheduler.tickAt(at);
      assert.equal(table.get('peer')?.card.id, 'peer', 'heard: no longer judged by its closed connection');
      onDisconnect('peer');
      for (let at = 1750; at <= 2500; at += 250) await scheduler.tickAt(at);
      assert.equal(table.get('peer'), undefined, 'silent for longer: evicted');
      assert.deepEqual(removed, ['connectionLost']);
      detector.stop();
    } finally {
      Date.now = realNow;
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
