import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { KuzzleStateInternals } from '../../src/plugin/kuzzle-types';
import type { KuzzleChannel } from '../../src/plugin/kuzzle-sync/kuzzle-channel';
import { StrategySync } from '../../src/plugin/kuzzle-sync/strategy-sync';
import type { SharedRecords } from '../../src/state/shared-records';
import { delay, waitFor } from '../harness/wait';

/** Records as Redis holds them for every node. */
class MemoryRecords implements SharedRecords {
  readonly values = new Map<string, unknown>();
  async set(name: string, value: unknown): Promise<void> {
    this.values.set(name, JSON.parse(JSON.stringify(value)));
  }
  async delete(name: string): Promise<void> {
    this.values.delete(name);
  }
  async all(): Promise<Array<{ name: string; value: unknown }>> {
    return [...this.values].map(([name, value]) => ({ name, value }));
  }
}

/** Records whose writes fail while `failing` is set (Redis out of memory, a failover). */
class FailingRecords extends MemoryRecords {
  failing = false;
  override async set(name: string, value: unknown): Promise<void> {
    if (this.failing) throw new Error('OOM command not allowed');
    return super.set(name, value);
  }
}

/** One node: its Kuzzle's strategy table, with the plugin that owns the strategies loaded. */
function nodeOver(records: SharedRecords, published: Array<[string, unknown]> = []) {
  const strategies: Record<string, { owner: string }> = {};
  const kuzzle = {
    pluginsManager: {
      plugins: [{ name: 'auth-plugin' }],
      strategies,
      listStrategies: () => Object.keys(strategies),
      registerStrategy: (plugin: string, name: string) => void (strategies[name] = { owner: plugin.toLowerCase() }),
      unregisterStrategy: (_plugin: string, name: string) => void delete strategies[name],
    },
  } as unknown as KuzzleStateInternals;
  const channel = { publish: async (type: string, body: unknown) => void published.push([type, body]), log: () => undefined } as unknown as KuzzleChannel;
  return { sync: new StrategySync(channel, records, kuzzle, 10), strategies };
}

const description = { config: { authenticator: 'Open' }, methods: { verify: 'verify' } };

describe('StrategySync: a record that fails', () => {
  it('a removal whose record fails is still told to the peers, is not undone by a catch-up, and is recorded once Redis takes writes again', async () => {
    const records = new FailingRecords();
    const published: Array<[string, unknown]> = [];
    const a = nodeOver(records, published);
    await a.sync.pipes['core:auth:strategyAdded']?.({ name: 'oauth', pluginName: 'auth-plugin', strategy: description });
    // Kuzzle removed it here before the pipe: the record fails.
    delete a.strategies.oauth;
    records.failing = true;
    await assert.rejects(a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'oauth', pluginName: 'auth-plugin' }) ?? Promise.resolve(), /OOM/);
    assert.deepEqual(published.map(([type]) => type), ['kuzzle:strategy:add', 'kuzzle:strategy:remove'], 'the peers are told all the same');
    records.failing = false;
    // The shared state still says "added": this node's own removal is newer.
    await a.sync.catchUp();
    assert.ok(!('oauth' in a.strategies), 'not registered again from the older record');
    await waitFor('the removal to be recorded', () => {
      const stored = records.values.get('oauth') as { strategy?: unknown } | undefined;
      return stored !== undefined && stored.strategy === undefined;
    });
    const later = nodeOver(records);
    await later.sync.catchUp();
    assert.ok(!('oauth' in later.strategies));
    a.sync.stop();
  });
});

describe('StrategySync: a record that fails, then a peer\'s newer change', () => {
  it('the record not written yet is dropped when a peer changes the strategy since: it is not written over the peer\'s', async () => {
    const records = new FailingRecords();
    const a = nodeOver(records);
    const b = nodeOver(records);
    records.failing = true;
    await assert.rejects(a.sync.pipes['core:auth:strategyAdded']?.({ name: 'oauth', pluginName: 'auth-plugin', strategy: description }) ?? Promise.resolve(), /OOM/);
    records.failing = false;
    // b removes it (recorded), and a hears of it.
    b.strategies.oauth = { owner: 'auth-plugin' };
    delete b.strategies.oauth;
    await b.sync.pipes['core:auth:strategyRemoved']?.({ name: 'oauth', pluginName: 'auth-plugin' });
    const removal = records.values.get('oauth');
    a.sync.handlers['kuzzle:strategy:remove'](removal as never, { id: 'b', incarnation: 1 });
    await delay(50); // a's retry (every 10 ms here) has run
    assert.deepEqual(records.values.get('oauth'), removal, 'b\'s removal stays recorded');
    a.sync.stop();
  });
});

describe('StrategySync: a record under way when a peer changes the strategy', () => {
  it('the peer\'s change is written after this node\'s own, whichever reaches Redis last (a failover holding both)', async () => {
    const records = new MemoryRecords();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    // a's write is held (Redis failing over); b's lands first.
    const slow: SharedRecords = { ...records, set: async (name, value) => { await held; return records.set(name, value); }, delete: (name) => records.delete(name), all: () => records.all() };
    const a = nodeOver(slow);
    const b = nodeOver(records);
    const adding = a.sync.pipes['core:auth:strategyAdded']?.({ name: 'oauth', pluginName: 'auth-plugin', strategy: description });
    await b.sync.pipes['core:auth:strategyRemoved']?.({ name: 'oauth', pluginName: 'auth-plugin' });
    const removal = records.values.get('oauth');
    a.sync.handlers['kuzzle:strategy:remove']({ ...(removal as object), name: 'oauth', pluginName: 'auth-plugin' } as never, { id: 'b', incarnation: 1 });
    release();
    await adding;
    await waitFor('b\'s removal written again after a\'s add', () => (records.values.get('oauth') as { strategy?: unknown } | undefined)?.strategy === undefined);
    assert.deepEqual(records.values.get('oauth'), removal);
    a.sync.stop();
  });
});

describe('StrategySync: catching up', () => {
  it('a strategy removed at run time while a node did not hear it is removed there when it catches up', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    const b = nodeOver(records);
    await a.sync.pipes['core:auth:strategyAdded']?.({ name: 'oauth', pluginName: 'auth-plugin', strategy: description });
    b.sync.handlers['kuzzle:strategy:add']({ name: 'oauth', pluginName: 'auth-plugin', strategy: description }, { id: 'a', incarnation: 1 });
    assert.ok('oauth' in b.strategies);
    // Removed on a; b misses the broadcast.
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'oauth', pluginName: 'auth-plugin' });
    await b.sync.catchUp();
    assert.ok(!('oauth' in b.strategies));
    // A node started afterwards does not get it either.
    const c = nodeOver(records);
    await c.sync.catchUp();
    assert.ok(!('oauth' in c.strategies));
    // Added again: everywhere again.
    await a.sync.pipes['core:auth:strategyAdded']?.({ name: 'oauth', pluginName: 'auth-plugin', strategy: description });
    await c.sync.catchUp();
    assert.ok('oauth' in c.strategies);
  });

  it('a removal recorded earlier does not remove a strategy its plugin registers at start (as one Kuzzle restarted)', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'static', pluginName: 'auth-plugin' });
    const restarted = nodeOver(records);
    restarted.strategies['static'] = { owner: 'auth-plugin' }; // registered by its plugin at start
    await restarted.sync.catchUp();
    assert.ok('static' in restarted.strategies);
  });

  it('a strategy its plugin registers at start, removed at run time while a node did not hear it, is removed there when it catches up; a node started since keeps it', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    const b = nodeOver(records);
    for (const node of [a, b]) node.strategies['static'] = { owner: 'auth-plugin' }; // registered by the plugin at start
    await b.sync.catchUp(); // b joins
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'static', pluginName: 'auth-plugin' });
    delete a.strategies['static'];
    await b.sync.catchUp(); // b was cut off meanwhile
    assert.ok(!('static' in b.strategies));

    const restarted = nodeOver(records);
    restarted.strategies['static'] = { owner: 'auth-plugin' };
    await restarted.sync.catchUp();
    await restarted.sync.catchUp(); // and catches up again later (cut off): the removal came before its start
    assert.ok('static' in restarted.strategies);
    // Removed again, while it was up: removed there too.
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'static', pluginName: 'auth-plugin' });
    await restarted.sync.catchUp();
    assert.ok(!('static' in restarted.strategies));
  });

  it('a node started while Redis had lost its data keeps its start-up strategy when a peer writes the removal back (it came before that node started)', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'static', pluginName: 'auth-plugin' });
    records.values.clear(); // FLUSHALL
    const started = nodeOver(records);
    started.strategies['static'] = { owner: 'auth-plugin' };
    await started.sync.catchUp(); // finds no removal
    await a.sync.persistAgain();
    await started.sync.catchUp();
    assert.ok('static' in started.strategies);
  });

  it('a removal made after Redis lost its data keeps its id when a peer writes the removals back: a node cut off meanwhile still removes its start-up strategy', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    const b = nodeOver(records);
    const cutOff = nodeOver(records);
    cutOff.strategies['static'] = { owner: 'auth-plugin' };
    await cutOff.sync.catchUp(); // its start: no removal yet
    records.values.clear(); // FLUSHALL
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'static', pluginName: 'auth-plugin' });
    // b hears the removal as a sent it (with its id, as written); cutOff misses it.
    const written = records.values.get('static') as { name: string; pluginName: string; removal: string };
    b.sync.handlers['kuzzle:strategy:remove'](written, { id: 'a', incarnation: 1 });
    await b.sync.persistAgain(); // b finds the loss after the removal
    await cutOff.sync.catchUp();
    assert.ok(!('static' in cutOff.strategies), 'removed while it was up');
  });

  it('a strategy added again live while a catch-up reads an older removal stays', async () => {
    const records = new MemoryRecords();
    const a = nodeOver(records);
    await a.sync.pipes['core:auth:strategyRemoved']?.({ name: 'oauth', pluginName: 'auth-plugin' });
    const b = nodeOver(records);
    // Redis answers the catch-up's read with the removal; the new addition's broadcast is handled right after.
    const all = records.all.bind(records);
    records.all = async () => {
      const read = await all();
      b.sync.handlers['kuzzle:strategy:add']({ name: 'oauth', pluginName: 'auth-plugin', strategy: description }, { id: 'a', incarnation: 1 });
      return read;
    };
    await b.sync.catchUp();
    assert.ok('oauth' in b.strategies);
  });

  it('after Redis lost its data, a node writes back the removals it heard as well as the additions', async () => {
    const records = new MemoryRecords();
    const heard = { id: 'a', incarnation: 1 };
    const b = nodeOver(records);
    const c = nodeOver(records);
    for (const node of [b, c]) node.sync.handlers['kuzzle:strategy:add']({ name: 'oauth', pluginName: 'auth-plugin', strategy: description }, heard);
    b.sync.handlers['kuzzle:strategy:add']({ name: 'kept', pluginName: 'auth-plugin', strategy: description }, heard);
    b.sync.handlers['kuzzle:strategy:remove']({ name: 'oauth', pluginName: 'auth-plugin' }, heard); // c missed it
    records.values.clear(); // FLUSHALL
    await b.sync.persistAgain();
    assert.deepEqual(records.values.get('oauth'), { name: 'oauth', pluginName: 'auth-plugin' }, 'the removal written back (heard without id: from an earlier build)');
    assert.ok(records.values.has('kept'));
    await c.sync.catchUp();
    assert.ok(!('oauth' in c.strategies));
  });
});
