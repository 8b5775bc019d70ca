import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TurnBatch } from '../../src/util/turn-batch';

describe('TurnBatch', () => {
  it('hands the items of one turn over in one call, each caller getting its own result', async () => {
    const calls: number[][] = [];
    const batch = new TurnBatch<number, number>(async (items) => {
      calls.push(items);
      return items.map((item) => item * 10);
    });
    const first = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    const second = await batch.add(4);
    assert.deepEqual(first, [10, 20, 30]);
    assert.equal(second, 40);
    assert.deepEqual(calls, [[1, 2, 3], [4]]);
  });

  it('a failing call fails every caller of its batch, and the next batch still runs', async () => {
    let fail = true;
    const batch = new TurnBatch<string, string>(async (items) => {
      if (fail) throw new Error('down');
      return items;
    });
    const results = await Promise.allSettled([batch.add('a'), batch.add('b')]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    assert.equal(await batch.add('c'), 'c');
  });

  it('items added while a batch is being handled wait for it to end, then go together in the next one', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[][] = [];
    const batch = new TurnBatch<string, void>(async (items) => {
      calls.push(items);
      if (calls.length === 1) await gate;
      return items.map((): void => undefined);
    });
    const first = batch.add('a');
    await new Promise((resolve) => setImmediate(resolve));
    const later = [batch.add('b')];
    await new Promise((resolve) => setImmediate(resolve));
    later.push(batch.add('c'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, [['a']], 'nothing more is handed over while a call is under way');
    release();
    await Promise.all([first, ...later]);
    assert.deepEqual(calls, [['a'], ['b', 'c']]);
  });
});
