import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { TokenRevocation } from '../../src/plugin/kuzzle-sync/messages';
import { TokenSync } from '../../src/plugin/kuzzle-sync/token-sync';
import { hashTokenIndex } from '../../src/plugin/kuzzle-sync/token-seal';

interface ManagedToken {
  idx: string;
  _id: string | null;
  expiresAt: number;
  userId: string;
}

const managed = (userId: string, jwt: string, expiresAt = 1000): ManagedToken => ({ idx: `${expiresAt};${userId}#${jwt}`, _id: `${userId}#${jwt}`, expiresAt, userId });

/** A TokenSync over a token manager in memory; `store` is the shared token store (undefined: the read fails). */
function harness(tokens: ManagedToken[], store: Map<string, unknown>, apiKeys = new Map<string, unknown>(), heldAtLoss: string[] = []) {
  const sent: TokenRevocation[] = [];
  const expired: string[] = [];
  const lostWithStore = new Set(heldAtLoss);
  let running = 0;
  let mostAtOnce = 0;
  const manager = {
    tokens: { array: tokens },
    // As Kuzzle's: the connection's rooms are removed (asynchronously) before the entry.
    expire: async (token: { _id: string | null }) => {
      mostAtOnce = Math.max(mostAtOnce, ++running);
      await new Promise<void>((resolve) => setImmediate(resolve));
      expired.push(token._id ?? '');
      const at = manager.tokens.array.findIndex((entry) => entry._id === token._id);
      if (at >= 0) manager.tokens.array.splice(at, 1);
      running--;
    },
  };
  const sync = new TokenSync(
    { send: async (_type, body) => void sent.push(body as TokenRevocation), log: () => undefined },
    { tokenManager: manager },
    {
      readApiKey: async (id) => apiKeys.get(id),
      readToken: async (userId, jwt) => {
        const stored = store.get(`${userId}#${jwt}`);
        if (stored === undefined) throw new Error('Redis did not answer');
        return stored;
      },
      heldAtStoreLoss: async () => lostWithStore,
      foundInStore: (id: string) => void lostWithStore.delete(id),
      refreshes: { write: async () => undefined, read: async () => null },
    },
  );
  return { sync, sent, expired, mostAtOnce: () => mostAtOnce };
}

describe('TokenSync', () => {
  it('a recheck drops the connections of tokens gone from the shared store, and only those (a failed read keeps its token, and fails the recheck so that it is reported and tried again)', async () => {
    const store = new Map<string, unknown>([
      ['alice#a', { _id: 'alice#a' }],
      ['bob#b', null],
    ]);
    const { sync, expired } = harness([managed('alice', 'a'), managed('bob', 'b'), managed('carol', 'c')], store);
    await assert.rejects(sync.recheck(), /1 token\(s\) of this node's connections could not be read from the shared store.*Redis did not answer/);
    assert.deepEqual(expired, ['bob#b'], 'the token known to be gone is dropped all the same');
    store.set('carol#c', null);
    assert.equal(await sync.recheck(), 1, 'tried again: carol\'s token was revoked meanwhile');
    assert.deepEqual(expired, ['bob#b', 'carol#c']);
  });

  it('several tokens gone: expired one at a time (Kuzzle\'s token manager removes an entry by a position found before it waits)', async () => {
    const store = new Map<string, unknown>([
      ['alice#a', null],
      ['bob#b', null],
      ['carol#c', { _id: 'carol#c' }],
    ]);
    const { sync, expired, mostAtOnce } = harness([managed('alice', 'a'), managed('bob', 'b'), managed('carol', 'c')], store);
    assert.equal(await sync.recheck(), 2);
    assert.deepEqual(expired.sort(), ['alice#a', 'bob#b']);
    assert.equal(mostAtOnce(), 1);
  });

  it('a catch-up keeps the connections whose token is gone when the store lost its data while this node held it (one Kuzzle keeps them then), and drops them when it did not (the users were deleted), or when the token was made after the loss', async () => {
    const gone = (): Map<string, unknown> => new Map<string, unknown>([['alice#a', null], ['bob#b', null]]);
    const lost = harness([managed('alice', 'a'), managed('bob', 'b')], gone(), new Map(), ['alice#a', 'bob#b']);
    assert.equal(await lost.sync.recheck({ keepIfStoreLost: true }), 0);
    assert.deepEqual(lost.expired, []);
    // Bob logged in after the loss and was deleted while this node was cut off.
    const later = harness([managed('alice', 'a'), managed('bob', 'b')], gone(), new Map(), ['alice#a']);
    assert.equal(await later.sync.recheck({ keepIfStoreLost: true }), 1);
    assert.deepEqual(later.expired, ['bob#b']);
    // Alice's token (an API key) found in the store again (Kuzzle loaded it at a start), then deleted while this node was cut off.
    const store = gone();
    store.set('alice#a', { _id: 'alice#a' });
    const reloaded = harness([managed('alice', 'a')], store, new Map(), ['alice#a']);
    assert.equal(await reloaded.sync.recheck({ keepIfStoreLost: true }), 0);
    store.set('alice#a', null);
    assert.equal(await reloaded.sync.recheck({ keepIfStoreLost: true }), 1);
    const deleted = harness([managed('alice', 'a'), managed('bob', 'b')], gone());
    assert.equal(await deleted.sync.recheck({ keepIfStoreLost: true }), 2);
  });

  it('a revocation of a user whose new token is in the store (asked again after the user logged in again) leaves it', async () => {
    const store = new Map<string, unknown>([
      ['alice#old', null],
      ['alice#new', { _id: 'alice#new' }],
    ]);
    const { sync, expired } = harness([managed('alice', 'old'), managed('alice', 'new')], store);
    await sync.handlers['kuzzle:token:revoke']({ kuid: 'alice' }, { id: 'n2', incarnation: 1 });
    assert.deepEqual(expired, ['alice#old']);
  });

  it('an API key is revoked under the expiry of its token in the shared store, not of its document (they differ once Kuzzle recreated the token)', async () => {
    const store = new Map<string, unknown>([['alice#k', { _id: 'alice#k', expiresAt: 2000 }]]);
    const apiKeys = new Map<string, unknown>([['key-1', { _source: { userId: 'alice', token: 'k', expiresAt: 1000 } }]]);
    const { sync, sent } = harness([], store, apiKeys);
    const request = { input: { resource: { _id: 'key-1' }, args: { userId: 'alice' } } };
    await sync.pipes['security:beforeDeleteApiKey']?.(request);
    await sync.pipes['security:afterDeleteApiKey']?.(request);
    assert.deepEqual(sent, [{ tokenHash: hashTokenIndex('2000;alice#k'), expiresAt: 2000 }]);
  });
});
