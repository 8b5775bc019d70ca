import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SecurityInvalidation } from '../../src/plugin/kuzzle-sync/messages';
import { SecuritySync } from '../../src/plugin/kuzzle-sync/security-sync';
import { waitFor } from '../harness/wait';

/** A SecuritySync whose peers are a list of sent invalidations and whose Elasticsearch is a map. */
function harness() {
  const sent: SecurityInvalidation[] = [];
  const stored = new Map<string, Record<string, unknown>>();
  let reads = 0;
  const sync = new SecuritySync(
    { send: async (_type, body) => void sent.push(body as SecurityInvalidation) },
    { ask: async () => undefined },
    async (collection, id) => {
      reads++;
      const source = stored.get(`${collection}/${id}`);
      if (!source) throw new Error('not found');
      return { _id: id, _source: source };
    },
  );
  return { sync, sent, stored, reads: () => reads };
}

describe('SecuritySync: writes through Kuzzle\'s internals', () => {
  it('a role saved internally: peers drop it at once, and again only once Elasticsearch holds the announced content', async () => {
    const { sync, sent, stored, reads } = harness();
    const before = { controllers: { server: { actions: { now: true } } } };
    const after = { controllers: { server: { actions: { now: false } } } };
    stored.set('roles/editor', before);
    sync.hooks['core:roleRepository:save']?.({ _id: 'editor', ...after });
    assert.deepEqual(sent, [{ kind: 'role', ids: ['editor'] }], 'dropped at once');
    // However long the write takes, no second drop while the old content is stored.
    await waitFor('a few reads of the old content', () => reads() >= 5);
    assert.equal(sent.length, 1);
    stored.set('roles/editor', after);
    await waitFor('the second drop', () => sent.length === 2);
    assert.deepEqual(sent[1], { kind: 'role', ids: ['editor'] });
  });

  it('a profile created internally: the second drop waits for the document to exist', async () => {
    const { sync, sent, stored, reads } = harness();
    const policies = [{ roleId: 'editor', restrictedTo: [{ index: 'i' }] }];
    sync.hooks['core:profileRepository:save']?.({ _id: 'p', policies });
    await waitFor('a few reads before the document exists', () => reads() >= 3);
    assert.equal(sent.length, 1);
    stored.set('profiles/p', { policies: JSON.parse(JSON.stringify(policies)) as unknown });
    await waitFor('the second drop', () => sent.length === 2);
  });

  it('a deletion is announced after it happened: dropped at once and a moment later, without reading', async () => {
    const { sync, sent, reads } = harness();
    sync.hooks['core:roleRepository:delete']?.({ _id: 'gone' });
    assert.equal(sent.length, 1);
    await waitFor('the second drop', () => sent.length === 2, { timeoutMs: 5000 });
    assert.equal(reads(), 0);
  });
});

describe('SecuritySync: changes from peers', () => {
  it('a change is dropped at once, then again at each later time (a read in flight on this node would put the old object back)', async () => {
    const asked: string[] = [];
    const sync = new SecuritySync(
      { send: async () => undefined },
      { ask: async (event: string, ...args: unknown[]) => void asked.push(`${event} ${String(args[0])}`) },
      async () => undefined,
      [5, 10, 20],
    );
    await sync.invalidate({ kind: 'role', ids: ['editor'] });
    assert.deepEqual(asked, ['core:security:role:invalidate editor']);
    await waitFor('three later drops', () => asked.length === 4);
  });
});
