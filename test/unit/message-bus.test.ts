import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MessageBus } from '../../src/bus/message-bus';
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
    const network = new MemoryNetwork();
    const ta = network.transport('a');
    const tb = network.transport('b');
    ta.connect('b');
    tb.connect('a');
    const busA = new MessageBus(ta, () => undefined);
    const busB = new MessageBus(tb, () => undefined);
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
});
