import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TokenStoreMark, type MarkCache } from '../../src/plugin/kuzzle-sync/token-store-mark';

/** Kuzzle's internal cache in memory, shared by the nodes of a test; `reads` counts the mark's reads. */
function sharedCache(): MarkCache & { data: Map<string, string>; reads: number } {
  const data = new Map<string, string>();
  const cache = {
    data,
    reads: 0,
    get: async (key: string) => {
      cache.reads++;
      return data.get(key) ?? null;
    },
    storeIfNew: async (key: string, value: string) => {
      if (!data.has(key)) data.set(key, value);
    },
  };
  return cache;
}

/** Fails the test on any warning but the loss's own. */
const failOnError = (level: string, message: string): void => {
  if (!message.includes('lost its data')) throw new Error(`${level} ${message}`);
};

describe('TokenStoreMark', () => {
  it('takes as lost with the store only the tokens a node held when it saw the mark go, while it holds them', async () => {
    const cache = sharedCache();
    const held = new Set(['alice#a']);
    const logs: string[] = [];
    const mark = new TokenStoreMark(cache, () => held, (level, message) => logs.push(`${level} ${message}`));
    assert.deepEqual([...(await mark.heldAtLosses())], [], 'a first look writes the mark: no loss');
    assert.equal(cache.data.size, 1);
    held.add('bob#b');
    assert.deepEqual([...(await mark.heldAtLosses())], []);
    cache.data.clear(); // a Redis flush
    assert.deepEqual([...(await mark.heldAtLosses())].sort(), ['alice#a', 'bob#b']);
    assert.deepEqual(logs, ["warn Kuzzle's token store lost its data (its mark kpc/token-store-mark is gone): the connections of the 2 token(s) this node holds are kept if their token is found gone, as one Kuzzle keeps them"]);
    // Carol logs in after the loss: never taken as lost with it, however late the next check.
    held.add('carol#c');
    assert.deepEqual([...(await mark.heldAtLosses())].sort(), ['alice#a', 'bob#b']);
    held.delete('alice#a');
    assert.deepEqual([...(await mark.heldAtLosses())].sort(), ['bob#b'], 'a token no longer held is forgotten');
    mark.foundInStore('bob#b'); // read from the store since (an API key Kuzzle loaded again)
    assert.deepEqual([...(await mark.heldAtLosses())], [], 'a token found in the store again is forgotten');
  });

  it('every node sees a loss, whichever wrote the new mark first', async () => {
    const cache = sharedCache();
    const a = new TokenStoreMark(cache, () => ['alice#a'], failOnError);
    const b = new TokenStoreMark(cache, () => ['bob#b'], failOnError);
    await Promise.all([a.heldAtLosses(), b.heldAtLosses()]);
    cache.data.clear();
    const [onA, onB] = await Promise.all([a.heldAtLosses(), b.heldAtLosses()]);
    assert.deepEqual([[...onA], [...onB]], [['alice#a'], ['bob#b']]);
    assert.equal(cache.data.size, 1, 'one mark');
  });

  it('looks asked while one is under way share it; a mark that cannot be read rejects (nothing can be told)', async () => {
    const cache = sharedCache();
    const mark = new TokenStoreMark(cache, () => [], failOnError);
    await Promise.all([mark.heldAtLosses(), mark.heldAtLosses(), mark.heldAtLosses()]);
    assert.equal(cache.reads, 2, 'one look: the read, and the read back of the mark it wrote');
    const broken = new TokenStoreMark({ get: async () => null, storeIfNew: async () => undefined }, () => [], failOnError);
    await assert.rejects(broken.heldAtLosses(), /cannot be written/);
  });

  it('watches every 10 s from its first look, reporting a failed look instead of rejecting, until stopped', async () => {
    const logs: string[] = [];
    const mark = new TokenStoreMark({ get: async () => Promise.reject(new Error('Connection is closed.')), storeIfNew: async () => undefined }, () => [], (level, message) => logs.push(`${level} ${message}`));
    await mark.watch();
    mark.stop();
    assert.deepEqual(logs, ["warn the token store's mark not read, read again in 10 s: Connection is closed."]);
  });
});
