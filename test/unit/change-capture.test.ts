import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { captureChanges, CHANGE_ASKS } from '../../src/plugin/change-capture';
import type { KuzzleLike } from '../../src/plugin/kuzzle-types';
import { LocalNotifier } from '../../src/plugin/local-notifier';
import type { ChangeNotice, PendingChange } from '../../src/sync/realtime-host';

/** A Kuzzle with the notifier's answerers and no filter, and a cluster side that records what it is asked. */
function setup(listening: boolean) {
  const answerers = new Map<string, (...args: never[]) => unknown>(CHANGE_ASKS.map((ask) => [ask, () => 'kuzzle answered']));
  const kuzzle = { id: 'k1', coreAnswerers: answerers, koncorde: { exists: () => false } } as unknown as KuzzleLike;
  const sent: ChangeNotice[] = [];
  const peers = {
    // As the relay: the request is serialized only when a peer listens, before forwardChange returns.
    forwardChange: async (change: PendingChange) => {
      if (listening) sent.push(JSON.parse(JSON.stringify({ ...change, request: change.request() })) as ChangeNotice);
    },
  };
  const logs: string[] = [];
  captureChanges(kuzzle, new LocalNotifier(kuzzle), peers, (level, message) => logs.push(`${level}: ${message}`));
  let serialized = 0;
  const request = (body: unknown = { color: 'red' }) => ({
    input: { resource: { index: 'idx', collection: 'col', _id: 'd1' }, body },
    serialize: () => {
      serialized++;
      return {
        data: { index: 'idx', collection: 'col', _id: 'd1', jwt: 'secret', body, controller: 'document', action: 'update', requestId: 'r1' },
        options: { connection: { protocol: 'websocket', misc: { headers: { authorization: 'x' } } } },
      };
    },
  });
  const ask = (name: string, ...args: unknown[]): unknown => (answerers.get(name) as (...a: unknown[]) => unknown)(...args);
  return { sent, logs, request, ask, serialized: () => serialized };
}

describe('change capture: the plugin in front of Kuzzle\'s notify asks', () => {
  it('a document change goes to the peers once, named, stripped of secrets, without the body when documents have their source', async () => {
    const { sent, request, ask } = setup(true);
    await ask('core:realtime:document:notify', request(), 4, { _id: 'd1', _source: { color: 'red' }, _updatedFields: ['color'] });
    assert.deepEqual(sent, [
      {
        index: 'idx',
        collection: 'col',
        action: 'update',
        documents: [{ _id: 'd1', _source: { color: 'red' }, _updatedFields: ['color'] }],
        request: { data: { _id: 'd1', action: 'update', collection: 'col', controller: 'document', index: 'idx', requestId: 'r1' }, options: { connection: { protocol: 'websocket' } } },
      },
    ]);
  });

  it('a publish and a document without its source carry the body their match needs', async () => {
    const { sent, request, ask } = setup(true);
    await ask('core:realtime:publish', request({ message: 'hi' }));
    await ask('core:realtime:document:mNotify', request({ color: 'red' }), 1, [{ _id: 'd2' }]);
    assert.deepEqual(sent.map((change) => [change.action, change.request.data.body]), [['publish', { message: 'hi' }], ['create', { color: 'red' }]]);
  });

  it('nobody listening anywhere: nothing sent, the request not even serialized', async () => {
    const { sent, request, ask, serialized } = setup(false);
    await ask('core:realtime:document:mNotify', request(), 5, [{ _id: 'd1', _source: {}, created: true }]);
    assert.deepEqual([sent, serialized()], [[], 0]);
  });

  it('nothing to report, or an action Kuzzle does not have: nothing sent, a clear error for the latter', async () => {
    const { sent, request, ask } = setup(true);
    await ask('core:realtime:document:mNotify', request(), 2, []);
    await assert.rejects(ask('core:realtime:document:notify', request(), 9, { _id: 'd1' }) as Promise<unknown>, /unexpected document notification \(action 9\)/);
    assert.deepEqual(sent, []);
  });

  it('a Kuzzle that does not expose its answerers is refused at start, saying what is missing', () => {
    const kuzzle = { id: 'k1', coreAnswerers: new Map([['core:realtime:publish', () => undefined]]) } as unknown as KuzzleLike;
    const peers = { forwardChange: async () => undefined };
    assert.throws(() => captureChanges(kuzzle, new LocalNotifier(kuzzle), peers, () => undefined), /core:realtime:document:notify, core:realtime:document:mNotify/);
  });
});
