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

describe('FailureDetector', () => {
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
