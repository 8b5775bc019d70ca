import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MAX_BROADCASTS_IN_HAND_PER_SENDER } from '../../src/bus/broadcast-backlog';
import { MAX_REQUESTS_IN_FLIGHT_PER_SENDER, MessageBus } from '../../src/bus/message-bus';
import { broadcast, parseEmpty, request, type Sender } from '../../src/bus/message-spec';
import { RemoteHandlerError } from '../../src/transport/errors';
import { ClusterError } from '../../src/util/cluster-error';
import { isObject } from '../../src/util/guards';
import { waitFor } from '../harness/wait';
import { MemoryNetwork } from '../support/memory-transport';

const parseName = (body: unknown) => (isObject(body) && typeof body.name === 'string' ? { name: body.name } : undefined);

/** A small message map covering each direction and sender policy. */
const MESSAGES = {
  hello: request(parseName, parseName, 'anyone'),
  secret: request(parseEmpty, parseName),
  news: broadcast(parseName),
  boom: request(parseEmpty, parseEmpty),
} as const;

/** Two buses on linked in-memory transports, nothing registered. */
function linkedBuses(): { busA: MessageBus; busB: MessageBus } {
  const network = new MemoryNetwork();
  const ta = network.transport('a');
  const tb = network.transport('b');
  ta.connect('b');
  tb.connect('a');
  return { busA: new MessageBus(ta, () => undefined), busB: new MessageBus(tb, () => undefined) };
}

function pair(members: { a: boolean; b: boolean } = { a: true, b: true }) {
  const network = new MemoryNetwork();
  const ta = network.transport('a');
  const tb = network.transport('b');
  ta.connect('b');
  tb.connect('a');
  const seenByB: Array<{ type: string; sender: Sender }> = [];
  const busA = new MessageBus(ta, () => undefined);
  const busB = new MessageBus(tb, () => undefined);
  busA.setMemberGate(() => members.b);
  busB.setMemberGate(() => members.a);
  const handlers = (seen: typeof seenByB) => ({
    hello: ({ name }: { name: string }, sender: Sender) => {
      seen.push({ type: 'hello', sender });
      return { name: `hello ${name}` };
    },
    secret: (_body: Record<string, never>, sender: Sender) => {
      seen.push({ type: 'secret', sender });
      return { name: 'the secret' };
    },
    news: (_body: { name: string }, sender: Sender) => {
      seen.push({ type: 'news', sender });
    },
    boom: () => {
      throw new ClusterError('KPC_TEST_FAILURE', 'it went boom');
    },
  });
  const a = busA.register(MESSAGES, handlers([]));
  busB.register(MESSAGES, handlers(seenByB));
  return { a, busA, busB, ta, seenByB };
}

describe('MessageBus', () => {
  it('delivers each declared type with its typed body and reply', async () => {
    const { a, seenByB } = pair();
    assert.deepEqual(await a.request('b', 'hello', { name: 'x' }, 1000), { name: 'hello x' });
    assert.deepEqual(await a.request('b', 'secret', {}, 1000), { name: 'the secret' });
    await a.publish('news', { name: 'n' });
    await waitFor('the broadcast', () => seenByB.some((s) => s.type === 'news'));
    assert.deepEqual(seenByB.map((s) => s.sender.id), ['a', 'a', 'a']);
  });

  it('answers only `anyone` messages to a sender that is not a member, with KPC_NOT_MEMBER', async () => {
    const { a, busB, seenByB } = pair({ a: false, b: true });
    assert.deepEqual(await a.request('b', 'hello', { name: 'x' }, 1000), { name: 'hello x' });
    await assert.rejects(a.request('b', 'secret', {}, 1000), (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_NOT_MEMBER');
    await a.publish('news', { name: 'n' });
    await waitFor('the broadcast counted as dropped', () => busB.stats().dropped.notMember === 2);
    assert.deepEqual(seenByB.map((s) => s.type), ['hello']);
  });

  it('refuses a request type sent as a broadcast and the reverse, unknown types and malformed bodies', async () => {
    const { ta, busB, seenByB } = pair();
    await ta.publish('secret', {});
    await ta.publish('nope', {});
    await ta.publish('news', { name: 42 });
    await waitFor('three drops', () => {
      const { dropped } = busB.stats();
      return dropped.wrongKind === 1 && dropped.unknownType === 1 && dropped.malformed === 1;
    });
    await assert.rejects(ta.request('b', 'news', { name: 'n' }, 1000), (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_WRONG_KIND');
    await assert.rejects(ta.request('b', 'hello', { name: 1 }, 1000), (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_MALFORMED');
    assert.deepEqual(seenByB, []);
  });

  it('carries the error code of a failing handler back to the requester', async () => {
    const { a } = pair();
    await assert.rejects(a.request('b', 'boom', {}, 1000), (error: unknown) => {
      assert.ok(error instanceof RemoteHandlerError);
      assert.equal(error.code, 'KPC_TEST_FAILURE');
      assert.match(error.message, /it went boom/);
      return true;
    });
  });

  it('refuses a second registration of a type', () => {
    const { busA } = pair();
    assert.throws(() => busA.register({ news: broadcast(parseName) }, { news: () => undefined }), /registered twice/);
  });

  it('waits for a pending membership decision before judging a request', async () => {
    const { busA, busB } = linkedBuses();
    let admit!: (ok: boolean) => void;
    busB.setMemberGate((_sender, kind) => (kind === 'request' ? new Promise<boolean>((resolve) => (admit = resolve)) : false));
    busA.setMemberGate(() => true);
    const a = busA.register(MESSAGES, { hello: () => ({ name: '' }), secret: () => ({ name: '' }), news: () => undefined, boom: () => ({}) });
    busB.register(MESSAGES, { hello: () => ({ name: '' }), secret: () => ({ name: 'late but fine' }), news: () => undefined, boom: () => ({}) });
    const answer = a.request('b', 'secret', {}, 2000);
    await waitFor('the gate to be asked', () => admit !== undefined);
    admit(true);
    assert.deepEqual(await answer, { name: 'late but fine' });
  });

  it('a request whose sender the verifier does not vouch for is refused as unauthenticated, whatever its type', async () => {
    const { a, busB, seenByB } = pair();
    busB.setRequestVerifier((sender) => sender.id !== 'a');
    for (const type of ['hello', 'secret'] as const) {
      await assert.rejects(a.request('b', type, type === 'hello' ? { name: 'x' } : {}, 1000), (error: unknown) => error instanceof RemoteHandlerError && error.code === 'KPC_UNAUTHENTICATED');
    }
    assert.equal(busB.stats().dropped.unauthenticated, 2);
    assert.deepEqual(seenByB, [], 'no handler ran');
    // An asynchronous verdict (a sender looked up) is waited for.
    busB.setRequestVerifier(async () => true);
    assert.deepEqual(await a.request('b', 'hello', { name: 'y' }, 1000), { name: 'hello y' });
  });

  it('one sender gets at most MAX_REQUESTS_IN_FLIGHT_PER_SENDER requests handled at once; the rest are refused as busy, cheaply', async () => {
    const { busA, busB } = linkedBuses();
    busA.setMemberGate(() => true);
    busB.setMemberGate(() => true);
    const release: Array<() => void> = [];
    const a = busA.register(MESSAGES, { hello: () => ({ name: '' }), secret: () => ({ name: '' }), news: () => undefined, boom: () => ({}) });
    busB.register(MESSAGES, {
      hello: () => ({ name: '' }),
      secret: () => new Promise<{ name: string }>((resolve) => release.push(() => resolve({ name: 'done' }))),
      news: () => undefined,
      boom: () => ({}),
    });
    const calls = Array.from({ length: MAX_REQUESTS_IN_FLIGHT_PER_SENDER + 10 }, () => a.request('b', 'secret', {}, 5000).then(() => 'ok', (error: unknown) => (error instanceof RemoteHandlerError ? error.code : 'other')));
    await waitFor('the handlers to hold their requests', () => release.length === MAX_REQUESTS_IN_FLIGHT_PER_SENDER);
    for (const done of release) done();
    const outcomes = await Promise.all(calls);
    assert.equal(outcomes.filter((o) => o === 'ok').length, MAX_REQUESTS_IN_FLIGHT_PER_SENDER);
    assert.equal(outcomes.filter((o) => o === 'KPC_BUSY').length, 10);
    assert.equal(busB.stats().dropped.overloaded, 10);
    // Once done, the sender is served again.
    const later = a.request('b', 'secret', {}, 5000);
    await waitFor('the next request held', () => release.length === MAX_REQUESTS_IN_FLIGHT_PER_SENDER + 1);
    release.at(-1)?.();
    assert.deepEqual(await later, { name: 'done' });
  });

  it('a sender\'s broadcasts whose handling is still under way are bounded: at MAX_BROADCASTS_IN_HAND_PER_SENDER its next ones wait unread (any type), and come in order once half are done', async () => {
    const { busA, busB } = linkedBuses();
    busA.setMemberGate(() => true);
    busB.setMemberGate(() => true);
    const release: Array<() => void> = [];
    const heard: string[] = [];
    const a = busA.register(MESSAGES, { hello: () => ({ name: '' }), secret: () => ({ name: '' }), news: () => undefined, boom: () => ({}) });
    busB.register(MESSAGES, {
      hello: () => ({ name: '' }),
      secret: () => ({ name: '' }),
      // A handler that takes its time (a listener of the application, a delivery).
      news: ({ name }) => {
        heard.push(name);
        return new Promise<void>((resolve) => release.push(resolve));
      },
      boom: () => ({}),
    });
    const sent = MAX_BROADCASTS_IN_HAND_PER_SENDER * 2;
    for (let i = 0; i < sent; i++) await a.publish('news', { name: `n${i}` });
    await waitFor('b to hold a', () => busB.backlogStats().holding.includes('a'));
    // Requests still come through while a's broadcasts are held.
    assert.deepEqual(await a.request('b', 'secret', {}, 5000), { name: '' });
    assert.equal(heard.length, MAX_BROADCASTS_IN_HAND_PER_SENDER, 'no more handled than the bound');
    assert.deepEqual(busB.backlogStats(), { inHand: MAX_BROADCASTS_IN_HAND_PER_SENDER, holds: 1, holding: ['a'], peak: MAX_BROADCASTS_IN_HAND_PER_SENDER, holdsTimedOut: 0, overdue: 0 });
    for (const done of release.splice(0, MAX_BROADCASTS_IN_HAND_PER_SENDER / 2)) done();
    await waitFor('the next ones read', () => heard.length > MAX_BROADCASTS_IN_HAND_PER_SENDER);
    await waitFor('every broadcast handled', () => {
      for (const done of release.splice(0)) done();
      return heard.length === sent && release.length === 0;
    });
    assert.deepEqual(heard, Array.from({ length: sent }, (_, i) => `n${i}`), 'every broadcast, in order');
    await waitFor('nothing left in hand', () => busB.backlogStats().inHand === 0);
  });
});
