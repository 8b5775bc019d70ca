import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TurnBatch } from '../../src/util/turn-batch';

/** A flush answering for all its items at once, as one result per item. */
const together =
  <T, R>(flush: (items: T[]) => Promise<R[]>) =>
  (items: T[]): Array<Promise<R>> => {
    const all = flush(items);
    return items.map((_, i) => all.then((results) => results[i] as R));
  };

describe('TurnBatch', () => {
  it('hands the items of one turn over in one call, each caller getting its own result', async () => {
    const calls: number[][] = [];
    const batch = new TurnBatch<number, number>(together(async (items) => {
      calls.push(items);
      return items.map((item) => item * 10);
    }));
    const first = await Promise.all([batch.add(1), batch.add(2), batch.add(3)]);
    const second = await batch.add(4);
    assert.deepEqual(first, [10, 20, 30]);
    assert.equal(second, 40);
    assert.deepEqual(calls, [[1, 2, 3], [4]]);
  });

  it('a failing call fails every caller of its batch, and the next batch still runs', async () => {
    let fail = true;
    const batch = new TurnBatch<string, string>(together(async (items) => {
      if (fail) throw new Error('down');
      return items;
    }));
    const results = await Promise.allSettled([batch.add('a'), batch.add('b')]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    fail = false;
    assert.equal(await batch.add('c'), 'c');
  });

  it('items added while a batch is being handled wait for it to end, then go together in the next one', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[][] = [];
    const batch = new TurnBatch<string, void>(together(async (items) => {
      calls.push(items);
      if (calls.length === 1) await gate;
      return items.map((): void => undefined);
    }));
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

  it('a call under way past stuckAfterMs holds back only the items of its keys; the others go meanwhile, each key in order', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[][] = [];
    // Items are "<key><n>": key a's first call hangs (its Redis master failing over).
    const batch = new TurnBatch<string, string>(
      together(async (items) => {
        calls.push(items);
        if (items.includes('a1')) await gate;
        return items;
      }),
      { keyOf: (item) => item.slice(0, 1), stuckAfterMs: 30 },
    );
    const stuck = batch.add('a1');
    await new Promise((resolve) => setImmediate(resolve));
    const others = [batch.add('b1'), batch.add('a2'), batch.add('c1')];
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, [['a1']], 'a call not yet stuck holds every key back, as without keys');
    assert.deepEqual(await Promise.all([others[0], others[2]]), ['b1', 'c1']);
    assert.deepEqual(calls, [['a1'], ['b1', 'c1']], "a2 waits for a1's call");
    assert.equal(await batch.add('b2'), 'b2', 'later items of free keys go too');
    release();
    assert.deepEqual(await Promise.all([stuck, others[1]]), ['a1', 'a2']);
    assert.deepEqual(calls, [['a1'], ['b1', 'c1'], ['b2'], ['a2']]);
  });

  it("within one call, a key's items are answered and the key freed as soon as they settle, while another key's hang", async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[][] = [];
    const batch = new TurnBatch<string, string>(
      (items) => {
        calls.push(items);
        return items.map(async (item) => {
          if (item === 'a1') await gate;
          return item;
        });
      },
      { keyOf: (item) => item.slice(0, 1), stuckAfterMs: 30 },
    );
    const stuck = batch.add('a1');
    assert.equal(await batch.add('b1'), 'b1', 'answered although a1 hangs');
    assert.deepEqual(calls, [['a1', 'b1']]);
    assert.equal(await batch.add('b2'), 'b2', 'key b free again once the call is stuck');
    assert.deepEqual(calls, [['a1', 'b1'], ['b2']]);
    release();
    assert.equal(await stuck, 'a1');
  });
});
