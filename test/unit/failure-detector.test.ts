import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel, PeerAnswer } from '../../src/bus/message-bus';
import { FailureDetector } from '../../src/membership/failure-detector';
import { MemberTable } from '../../src/membership/member-table';
import type { MEMBERSHIP_MESSAGES } from '../../src/membership/messages';
import type { EmitMembershipEvent } from '../../src/membership/peer';
import { delay, waitFor } from '../harness/wait';
import { cardOf, recordedLinks } from '../support/membership-doubles';
import { PausableScheduler } from '../support/pausable-scheduler';


describe('FailureDetector', () => {
  it('after a pause, answers about an incarnation this node already left raise no suspicion', async () => {
    const links = recordedLinks();
    const suspicions: Array<[string, number]> = [];
    const emit: EmitMembershipEvent = (event, ...args) => {
      if (event === 'self:suspect') suspicions.push(args as [string, number]);
    };
    const log = (): void => undefined;
    const table = new MemberTable(links, emit, { discoverTimeoutMs: 1000, log });
    table.add(cardOf('peer', 1));
    let self = cardOf('self', 1);
    let answer: ((answers: Array<PeerAnswer<{ member: boolean }>>) => void) | undefined;
    // Heartbeats go nowhere; the standing check waits for the test to answer it.
    const channel = {
      publish: async () => undefined,
      requestEach: () => new Promise((resolve) => (answer = resolve)),
    } as unknown as Channel<typeof MEMBERSHIP_MESSAGES>;
    const scheduler = new PausableScheduler();
    const detector = new FailureDetector(table, links, channel, () => self, emit, scheduler, {
      heartbeatMs: 20,
      heartbeatTimeoutMs: 60,
      discoverTimeoutMs: 1000,
      log,
    });
    detector.start();
    try {
      scheduler.pause();
      await delay(150); // frozen past the heartbeat timeout
      scheduler.resume();
      await waitFor('the standing check after the pause', () => answer !== undefined);
      self = cardOf('self', 2); // meanwhile it was evicted, heard of it and joined again
      answer?.([{ peer: 'peer', reply: { member: false } }]); // the peer does not count incarnation 1 in
      // The answer is handled on promises alone: a few turns let a suspicion be raised, if any.
      for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      assert.deepEqual(suspicions, []);
    } finally {
      detector.stop();
    }
  });
});
