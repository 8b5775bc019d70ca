import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Channel } from '../../src/bus/message-bus';
import type { CollectionRef } from '../../src/state/realtime-store';
import { InterestExchange } from '../../src/sync/interest-exchange';
import { LocalRooms } from '../../src/sync/local-rooms';
import type { InterestPage, REALTIME_MESSAGES } from '../../src/sync/messages';
import { waitFor } from '../harness/wait';

const ref = (i: number): CollectionRef => ({ index: 'idx', collection: `c${String(i).padStart(3, '0')}` });
const room = (i: number) => ({ ...ref(i), roomId: `r${i}`, filters: [] });

function roomsIn(collections: number[]): LocalRooms {
  const rooms = new LocalRooms();
  for (const i of collections) rooms.create(room(i), `conn-${i}`, async () => undefined);
  return rooms;
}

describe('interest:list in pages', () => {
  it('pages cover every collection once, in order, each after the cursor of the previous one', () => {
    const rooms = roomsIn(Array.from({ length: 25 }, (_, i) => 24 - i));
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = rooms.collectionPage(after, 10);
      seen.push(...page.collections.map((c) => c.collection));
      after = page.next;
      pages++;
    } while (after !== undefined);
    assert.equal(pages, 3);
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => ref(i).collection));
    assert.deepEqual(rooms.collectionPage(undefined, 25).next, undefined, 'a page holding the rest has no next');
  });

  it('a collection added between pages comes in a later page if its key is after the cursor (one before it was announced on its own)', () => {
    const rooms = roomsIn([1, 3, 5, 7]);
    const first = rooms.collectionPage(undefined, 2);
    assert.deepEqual(first.collections.map((c) => c.collection), ['c001', 'c003']);
    rooms.create(room(0), 'late-0', async () => undefined);
    rooms.create(room(4), 'late-4', async () => undefined);
    const second = rooms.collectionPage(first.next, 10);
    assert.deepEqual(second.collections.map((c) => c.collection), ['c004', 'c005', 'c007']);
  });

  it('a peer counts as listening everywhere until its last page is in, then only where it listed', async () => {
    const peer = { id: 'n2', incarnation: 1 };
    const pages: InterestPage[] = [{ collections: [ref(1)], next: 'k1' }, { collections: [ref(2)] }];
    let release: () => void = () => undefined;
    const secondAsked = new Promise<void>((resolve) => (release = resolve));
    let asked = 0;
    const channel = {
      request: async () => {
        asked++;
        if (asked === 2) await secondAsked;
        return pages[asked - 1];
      },
    } as unknown as Channel<typeof REALTIME_MESSAGES>;
    const exchange = new InterestExchange(() => channel, { peers: () => [peer], ackTimeoutMs: 100, log: () => undefined, stopped: () => false, listens: () => true, self: () => 'n1#1' });
    assert.deepEqual(exchange.recipients(ref(9)).peers, ['n2'], 'unknown yet: listening everywhere');
    await waitFor('the second page to be asked', () => asked === 2);
    assert.deepEqual(exchange.recipients(ref(9)).peers, ['n2'], 'one page in: still listening everywhere');
    release();
    await waitFor('the list to be known', () => exchange.recipients(ref(9)).peers.length === 0);
    assert.deepEqual(exchange.recipients(ref(1)).peers, ['n2']);
    assert.deepEqual(exchange.recipients(ref(2)).peers, ['n2']);
    assert.equal(asked, 2, 'asked no more once known');
  });

  it('a peer answering a page that does not move on stays unknown (listening everywhere), and the asking ends', async () => {
    const peer = { id: 'n2', incarnation: 1 };
    let asked = 0;
    const channel = {
      request: async () => {
        asked++;
        return { collections: [ref(1)], next: 'same' };
      },
    } as unknown as Channel<typeof REALTIME_MESSAGES>;
    const exchange = new InterestExchange(() => channel, { peers: () => [peer], ackTimeoutMs: 100, log: () => undefined, stopped: () => false, listens: () => true, self: () => 'n1#1' });
    exchange.recipients(ref(9));
    await waitFor('the second page', () => asked >= 2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(asked, 2);
    assert.deepEqual(exchange.recipients(ref(9)).peers, ['n2']);
  });
});
