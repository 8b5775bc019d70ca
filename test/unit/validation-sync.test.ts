import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KuzzleChannel } from '../../src/plugin/kuzzle-sync/kuzzle-channel';
import { ValidationSync } from '../../src/plugin/kuzzle-sync/validation-sync';

describe('ValidationSync', () => {
  it('reloads one at a time: one asked during a reload reads again after it (the last to set the specifications read the newest); those asked meanwhile share it', async () => {
    const events: string[] = [];
    let version = 1;
    let running = 0;
    const gates: Array<() => void> = [];
    const sync = new ValidationSync({} as KuzzleChannel, async () => {
      running++;
      assert.equal(running, 1, 'never two at once');
      const read = version;
      events.push(`read v${read}`);
      await new Promise<void>((resolve) => gates.push(resolve));
      events.push(`set v${read}`);
      running--;
    });
    const from = { id: 'n2', incarnation: 1 };
    const first = sync.handlers['kuzzle:validation:reload']({}, from);
    await new Promise<void>((resolve) => setImmediate(resolve));
    version = 2; // updated through another node while the first reload runs
    const second = sync.handlers['kuzzle:validation:reload']({}, from);
    const third = sync.reload();
    gates.shift()?.();
    await first;
    await new Promise<void>((resolve) => setImmediate(resolve));
    gates.shift()?.();
    await Promise.all([second, third]);
    assert.deepEqual(events, ['read v1', 'set v1', 'read v2', 'set v2']);
  });

  it('the node that served an update reloads too, in turn, as its peers do: Kuzzle\'s own reload in the action ran beside the queue', async () => {
    const calls: string[] = [];
    const channel = { send: async (type: string) => void calls.push(`send ${type}`) } as unknown as KuzzleChannel;
    const sync = new ValidationSync(channel, async () => void calls.push('reload here'));
    const request = {};
    assert.equal(await sync.pipes['collection:afterUpdateSpecifications'](request), request);
    assert.deepEqual(calls.sort(), ['reload here', 'send kuzzle:validation:reload']);
  });
});
