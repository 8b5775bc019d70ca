import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leaveGracefully, type FunnelLike } from '../../src/plugin/graceful-leave';
import { waitFor } from '../harness/wait';

/** A node that records the order of what is asked of it. */
function recordingNode(stopMs = 0) {
  const calls: string[] = [];
  return {
    calls,
    drain: () => void calls.push('drain'),
    stop: async () => {
      calls.push('stop');
      await new Promise((resolve) => setTimeout(resolve, stopMs).unref());
      calls.push('stopped');
    },
  };
}

describe('leaveGracefully', () => {
  it('drains first, leaves only once the requests in flight are done, and holds Kuzzle\'s exit until then', async () => {
    let polls = 0;
    let running = 2;
    const funnel = {
      // What the drain looks at: counted, to know it looked while requests ran.
      get concurrentRequests(): number {
        polls++;
        return running;
      },
      set concurrentRequests(value: number) {
        running = value;
      },
    } satisfies FunnelLike;
    const node = recordingNode();
    const leaving = leaveGracefully(funnel, node, 5000, () => undefined);
    assert.deepEqual(node.calls, ['drain'], 'health turns 503 at once');
    assert.equal(funnel.concurrentRequests, 3, 'the leave counts as a request: Kuzzle does not exit before it');
    await waitFor('a few drain polls', () => polls >= 3);
    assert.deepEqual(node.calls, ['drain'], 'no leave while requests run');
    funnel.concurrentRequests -= 2; // the two requests end
    await leaving;
    assert.deepEqual(node.calls, ['drain', 'stop', 'stopped']);
    assert.equal(funnel.concurrentRequests, 0, 'the hold is released');
  });

  it('a leave that hangs is cut at leaveTimeout, and the exit is released anyway', async () => {
    const funnel: FunnelLike = { concurrentRequests: 0 };
    const node = recordingNode(60_000);
    const logs: string[] = [];
    const started = Date.now();
    await leaveGracefully(funnel, node, 300, (_level, message) => void logs.push(message));
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(node.calls, ['drain', 'stop']);
    assert.ok(logs.some((message) => /exiting anyway/.test(message)));
    assert.equal(funnel.concurrentRequests, 0);
  });

  it('requests that never end (or that Kuzzle queued while overloaded and never runs after a shutdown) hold the drain until its bound only', async () => {
    const funnel = { concurrentRequests: 1, remainingRequests: 50 };
    const node = recordingNode();
    const logs: string[] = [];
    await leaveGracefully(funnel, node, 5000, (_level, message) => void logs.push(message), 600);
    assert.deepEqual(node.calls, ['drain', 'stop', 'stopped']);
    assert.ok(logs.some((message) => /1 request\(s\) still running after 600 ms of drain: leaving the cluster anyway/.test(message)), logs.join('\n'));
    assert.equal(funnel.concurrentRequests, 1, 'the hold is released');
  });

  it('without a funnel to hold (another Kuzzle), it drains and leaves at once', async () => {
    const node = recordingNode();
    await leaveGracefully(undefined, node, 1000, () => undefined);
    assert.deepEqual(node.calls, ['drain', 'stop', 'stopped']);
  });
});
