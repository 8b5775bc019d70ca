import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { waitFor } from '../harness/wait';
import { ensureCollection, portOf, uniqueName, useStack, wsClient, wsClientsOnNodes } from './support/fixture';

/**
 * The guarantee: once subscribe() has resolved on one node, a change made
 * through any other node is notified. The subscribing node holds the answer
 * until every peer has stored the room's filter.
 */
describe('a subscription is live cluster-wide when subscribe() resolves', () => {
  const stack = useStack({ nodes: 3 });
  const index = uniqueName('race');
  const collection = 'c';
  let a: Kuzzle;
  let b: Kuzzle;
  let c: Kuzzle;

  before(async () => {
    [a, b, c] = await wsClientsOnNodes(stack(), 3);
    await ensureCollection(a, index, collection);
  });

  it('300 subscribe → immediate publish on another node: zero misses', { timeout: 300_000 }, async () => {
    const rounds = 300;
    const received = new Set<number>();
    const rooms: string[] = [];
    for (let i = 0; i < rounds; i++) {
      // A new room each round (new filter), subscribed on A, published through B or C at once.
      const roomId = await a.realtime.subscribe(index, collection, { equals: { round: i } }, (n: unknown) => {
        const round = (n as { result: { _source: { round: number } } }).result._source.round;
        received.add(round);
      });
      rooms.push(roomId);
      await (i % 2 === 0 ? b : c).realtime.publish(index, collection, { round: i });
    }
    await waitFor(`${rounds} notifications`, () => received.size >= rounds, { timeoutMs: 15_000 }).catch(() => undefined);
    const misses = [...Array(rounds).keys()].filter((i) => !received.has(i));
    assert.deepEqual(misses, [], `${misses.length} notification(s) missed`);
    for (const roomId of rooms) await a.realtime.unsubscribe(roomId);
  });

  it('two connections subscribing to the same new room at once are both live when they resolve', { timeout: 300_000 }, async () => {
    const other = await wsClient(portOf(stack(), 1));
    const rounds = 100;
    const received = [new Set<number>(), new Set<number>()];
    for (let i = 0; i < rounds; i++) {
      const filters = { equals: { pair: i } };
      const rooms = await Promise.all(
        [a, other].map((client, k) =>
          client.realtime.subscribe(index, collection, filters, (n: unknown) => {
            received[k]?.add((n as { result: { _source: { pair: number } } }).result._source.pair);
          }),
        ),
      );
      assert.equal(rooms[0], rooms[1]);
      await (i % 2 === 0 ? b : c).realtime.publish(index, collection, { pair: i });
    }
    await waitFor('every pair notified twice', () => received.every((set) => set.size >= rounds), { timeoutMs: 15_000 }).catch(() => undefined);
    const misses = received.map((set) => [...Array(rounds).keys()].filter((i) => !set.has(i)));
    assert.deepEqual(misses, [[], []]);
  });

  it('counting a room on a node that has no subscriber does not break later subscriptions there', async () => {
    const filters = { equals: { counted: true } };
    const roomId = await a.realtime.subscribe(index, collection, filters, () => undefined);
    assert.equal(await c.realtime.count(roomId), 1);
    await a.realtime.unsubscribe(roomId);
    await waitFor('the room gone', async () => {
      try {
        return (await c.realtime.count(roomId)) === 0;
      } catch {
        return true; // room_not_found
      }
    });
    const received: unknown[] = [];
    const again = await c.realtime.subscribe(index, collection, filters, (n: unknown) => {
      received.push(n);
    });
    assert.equal(again, roomId);
    await b.realtime.publish(index, collection, { counted: true });
    await c.realtime.publish(index, collection, { counted: true });
    await waitFor('both notifications', () => received.length >= 2);
  });
});
