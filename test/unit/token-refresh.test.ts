import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { parseTokenRefresh, parseTokenRevocation, type TokenRefresh } from '../../src/plugin/kuzzle-sync/messages';
import { TokenSync } from '../../src/plugin/kuzzle-sync/token-sync';
import { entriesFiledAs, hashTokenIndex, openToken, positionOf, sealToken, tokenIndex, type TokenFields } from '../../src/plugin/kuzzle-sync/token-seal';

/** Kuzzle 2.10.4's own token manager (lib/core/auth/tokenManager.js), as each node runs it. */
interface KuzzleTokenManager {
  tokens: { array: Array<{ idx: string; _id: string | null; expiresAt: number; userId: string; connectionId?: string; rooms?: Set<string> }> };
  timer: NodeJS.Timeout | null;
  link(token: { _id: string; expiresAt: number; userId: string }, connectionId: string, roomId: string): void;
  expire(token: { _id: string | null; expiresAt: number }): Promise<void>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Kuzzle's CommonJS module, without types
const TokenManager = require('kuzzle/lib/core/auth/tokenManager') as new () => KuzzleTokenManager;

// Kuzzle's expire asks the realtime module to drop the connection's rooms
// (asynchronously: `slowRemoval` holds it for one connection).
const removed: string[] = [];
const slowRemoval: { connectionId?: string; until?: Promise<void> } = {};
(globalThis as { kuzzle?: unknown }).kuzzle = {
  ask: async (event: string, connectionId: string) => {
    if (event !== 'core:realtime:user:remove') return;
    if (connectionId === slowRemoval.connectionId) await slowRemoval.until;
    removed.push(connectionId);
  },
};
/** Holds the store's answers about one token, after letting `skip` of them through. */
const slowRead: { id?: string; skip: number; until?: Promise<void> } = { skip: 0 };
/** A promise, and what settles it. */
function gate(): { until: Promise<void>; release: () => void } {
  let release = (): void => undefined;
  const until = new Promise<void>((resolve) => (release = resolve));
  return { until, release };
}
const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
const managers: KuzzleTokenManager[] = [];
after(() => {
  for (const manager of managers) if (manager.timer) clearTimeout(manager.timer);
});

const HOUR = 3600_000;
const token = (userId: string, jwt: string, expiresAt: number): TokenFields => ({ _id: `${userId}#${jwt}`, userId, jwt, expiresAt, ttl: expiresAt - Date.now() });

/**
 * One node: Kuzzle's token manager, the shared token store (token id →
 * whether it is marked refreshed, as Kuzzle keeps it for a grace period) and
 * refresh records (both shared by every node), and what it sent.
 */
function node(store: Map<string, boolean>, records: Map<string, string>, lost: { value: boolean }) {
  const manager = new TokenManager();
  managers.push(manager);
  const sent: TokenRefresh[] = [];
  const logged: string[] = [];
  const sync = new TokenSync(
    { send: async (_type, body) => void sent.push(body as TokenRefresh), log: (_level, message) => void logged.push(message) },
    { tokenManager: manager },
    {
      readApiKey: async () => null,
      readToken: async (userId, jwt) => {
        const refreshed = store.get(`${userId}#${jwt}`);
        // What Redis answered, delivered late when held (see `slowRead`).
        if (slowRead.id === `${userId}#${jwt}` && slowRead.skip-- <= 0) await slowRead.until;
        return refreshed === undefined ? null : { _id: `${userId}#${jwt}`, refreshed };
      },
      // As TokenStoreMark: the loss seen while this node held its tokens.
      heldAtStoreLoss: async () => new Set(lost.value ? manager.tokens.array.flatMap((entry) => (entry._id === null ? [] : [entry._id])) : []),
      foundInStore: () => undefined,
      refreshes: {
        write: async (tokenHash, sealed) => void records.set(tokenHash, sealed),
        read: async (tokenHash) => records.get(tokenHash) ?? null,
      },
    },
  );
  const refresh = (old: TokenFields, renewed: TokenFields, result: Record<string, unknown> = { _id: renewed.userId, jwt: renewed.jwt, expiresAt: renewed.expiresAt, ttl: renewed.ttl }): Promise<unknown> => {
    store.set(renewed._id, false);
    if (store.has(old._id)) store.set(old._id, true);
    return sync.refreshes.pipes['auth:afterRefreshToken']!({ context: { token: { ...old, refreshed: true } }, result });
  };
  const receive = async (message: TokenRefresh): Promise<unknown> => sync.refreshes.handlers['kuzzle:token:refresh'](message, { id: 'n2', incarnation: 1 });
  /** Connection → the token ids its entries are filed under, and their rooms. */
  const entries = (): string[] => manager.tokens.array.map((entry) => `${entry.connectionId ?? ''} ${entry._id ?? ''} ${[...(entry.rooms ?? [])].join(',')}`);
  return { manager, sync, sent, logged, refresh, receive, entries };
}

/** The shared token store and refresh records (Kuzzle's internal Redis), and a way to add nodes over them. */
function cluster() {
  const store = new Map<string, boolean>();
  const records = new Map<string, string>();
  /** Whether the store lost its data while the nodes held their tokens (see TokenStoreMark). */
  const lost = { value: false };
  return { store, records, lost, add: () => node(store, records, lost) };
}

/** A node holding alice's stored token on ws-1, which another node refreshed (the holder not told: the message is in `served.sent`). */
async function refreshedOnce(options: { storeLostBefore?: boolean } = {}) {
  const { store, records, lost, add } = cluster();
  // Flushed earlier, while the holder held the old token.
  lost.value = options.storeLostBefore === true;
  const served = add();
  const holder = add();
  const old = token('alice', 'old', Date.now() + HOUR);
  store.set(old._id, false);
  holder.manager.link(old, 'ws-1', 'room-a');
  const renewed = token('alice', 'new', Date.now() + 2 * HOUR);
  await served.refresh(old, renewed);
  return { store, records, lost, served, holder, old, renewed };
}

/** A node holding alice's token on ws-1, which another node refreshed twice (the holder not told: its messages are in `served.sent`). */
async function refreshedTwice() {
  const { store, add } = cluster();
  const served = add();
  const holder = add();
  const old = token('alice', 'old', Date.now() + HOUR);
  holder.manager.link(old, 'ws-1', 'room-a');
  const first = token('alice', 'first', Date.now() + 2 * HOUR);
  const second = token('alice', 'second', Date.now() + 3 * HOUR);
  await served.refresh(old, first);
  await served.refresh(first, second);
  return { store, add, served, holder, old, first, second };
}

describe('token refresh through another node', () => {
  it('sealed for the holders of the old token: opened only with its index, and not once altered', () => {
    const old = token('alice', 'old', Date.now() + HOUR);
    const renewed = token('alice', 'new', Date.now() + 2 * HOUR);
    const sealed = sealToken(tokenIndex(old), renewed);
    assert.deepEqual(openToken(tokenIndex(old), sealed), renewed);
    assert.equal(openToken(tokenIndex(token('alice', 'other', old.expiresAt)), sealed), undefined, 'another token');
    assert.equal(openToken(tokenIndex({ ...old, expiresAt: old.expiresAt + 1 }), sealed), undefined, 'another expiry');
    const bytes = Buffer.from(sealed, 'base64');
    bytes[bytes.length - 1] ^= 1;
    assert.equal(openToken(tokenIndex(old), bytes.toString('base64')), undefined, 'altered');
    assert.ok(!sealed.includes('new') && !Buffer.from(sealed, 'base64').toString('latin1').includes('alice#new'), 'the new token is not readable in it');
    assert.equal(openToken(tokenIndex(old), sealToken(tokenIndex(old), { ...renewed, _id: 'bob#new' })), undefined, 'an id that is not its user\'s and JWT');
  });

  it('messages: a refresh needs a hash, an integer expiry and base64 of bounded length; a revocation without expiry (an earlier build) is taken, one with a bad expiry is not', () => {
    const hash = 'a'.repeat(64);
    assert.deepEqual(parseTokenRefresh({ tokenHash: hash, expiresAt: 5, sealed: 'AAAA', extra: 1 }), { tokenHash: hash, expiresAt: 5, sealed: 'AAAA' });
    for (const bad of [
      { tokenHash: 'A'.repeat(64), expiresAt: 5, sealed: 'AAAA' },
      { tokenHash: hash, expiresAt: 5.5, sealed: 'AAAA' },
      { tokenHash: hash, expiresAt: '5', sealed: 'AAAA' },
      { tokenHash: hash, sealed: 'AAAA' },
      { tokenHash: hash, expiresAt: 5, sealed: 'AA AA' },
      { tokenHash: hash, expiresAt: 5, sealed: 'A'.repeat(16_388) },
      { tokenHash: hash, expiresAt: 5, sealed: '' },
    ]) assert.equal(parseTokenRefresh(bad), undefined, JSON.stringify(bad).slice(0, 80));
    assert.deepEqual(parseTokenRevocation({ tokenHash: hash }), { tokenHash: hash });
    assert.deepEqual(parseTokenRevocation({ tokenHash: hash, expiresAt: -1 }), { tokenHash: hash, expiresAt: -1 });
    assert.equal(parseTokenRevocation({ tokenHash: hash, expiresAt: Infinity }), undefined);
  });

  it('an entry is found by its expiry and hash as by hashing every entry, and by its index as by a scan, whatever the expiries around it (other lengths, API keys\' -1)', () => {
    const expiries = [-1, 5, 12, 123, 123, 123, 1234, 12_300, 1_000_000];
    const array = expiries
      .flatMap((expiresAt, i) => [`u${i}#a`, `u${i}#b`].map((id) => ({ idx: `${expiresAt};${id}` })))
      .sort((a, b) => (a.idx < b.idx ? -1 : a.idx > b.idx ? 1 : 0));
    for (const entry of array) {
      const hash = hashTokenIndex(entry.idx);
      const expiresAt = Number(entry.idx.slice(0, entry.idx.indexOf(';')));
      assert.deepEqual(entriesFiledAs(array, hash, expiresAt), [entry], entry.idx);
      assert.deepEqual(entriesFiledAs(array, hash), [entry]);
      assert.deepEqual(entriesFiledAs(array, hash, expiresAt + 1), [], 'another expiry');
      assert.equal(positionOf(array, entry.idx), array.indexOf(entry));
      assert.equal(positionOf(array, `${entry.idx}x`), -1);
    }
  });

  it('the node that served the refresh records it and names the old token by its hash; a peer holding the old token moves its connection and rooms to the new one', async () => {
    const { records, add } = cluster();
    const served = add();
    const holder = add();
    const old = token('alice', 'old', Date.now() + HOUR);
    holder.manager.link(old, 'ws-1', 'room-a');
    holder.manager.link(old, 'ws-1', 'room-b');
    holder.manager.link(token('bob', 'b', Date.now() + 3 * HOUR), 'ws-2', 'room-a');
    const renewed = token('alice', 'new', Date.now() + 2 * HOUR);
    await served.refresh(old, renewed);

    assert.equal(served.sent.length, 1);
    const [message] = served.sent;
    assert.ok(message);
    assert.equal(message.tokenHash, hashTokenIndex(tokenIndex(old)));
    assert.equal(records.get(message.tokenHash), message.sealed);
    await holder.receive(message);
    assert.deepEqual(holder.entries(), ['ws-1 alice#new room-a,room-b', 'ws-2 bob#b room-a']);
    // Kuzzle's own expiry of the new token (a logout through this node) now finds the connection.
    await holder.manager.expire(renewed);
    assert.deepEqual(removed.splice(0), ['ws-1']);
  });

  it('a new token expiring before the old one: the other connections\' entries are left alone (Kuzzle\'s own refresh would remove one)', async () => {
    const { add } = cluster();
    const served = add();
    const holder = add();
    const now = Date.now();
    const old = token('alice', 'old', now + 3 * HOUR);
    holder.manager.link(token('bob', 'b', now + 2 * HOUR), 'ws-2', 'room-a');
    holder.manager.link(old, 'ws-1', 'room-a');
    await served.refresh(old, token('alice', 'new', now + HOUR));
    const [message] = served.sent;
    assert.ok(message);
    await holder.receive(message);
    assert.deepEqual(holder.entries(), ['ws-1 alice#new room-a', 'ws-2 bob#b room-a']);
  });

  it('a node that does not hold the old token changes nothing; a message altered on the way is ignored and logged', async () => {
    const { add } = cluster();
    const served = add();
    const other = add();
    const old = token('alice', 'old', Date.now() + HOUR);
    other.manager.link(token('alice', 'another', Date.now() + HOUR), 'ws-3', 'room-a');
    await served.refresh(old, token('alice', 'new', Date.now() + 2 * HOUR));
    const [message] = served.sent;
    assert.ok(message);
    await other.receive(message);
    assert.deepEqual(other.entries(), ['ws-3 alice#another room-a']);

    const holder = add();
    holder.manager.link(old, 'ws-1', 'room-a');
    await holder.receive({ ...message, sealed: sealToken('1;mallory#x', token('alice', 'forged', Date.now() + HOUR)) });
    assert.deepEqual(holder.entries(), [`ws-1 alice#old room-a`]);
    assert.match(holder.logged.join('\n'), /could not be opened/);
  });

  it('not spread: a refresh answered only in a cookie (cookieAuth: no JWT in the result), or one that gave the same JWT (refreshed within the second it was made)', async () => {
    const served = cluster().add();
    const old = token('alice', 'old', Date.now() + HOUR);
    await served.refresh(old, token('alice', 'new', Date.now() + 2 * HOUR), { _id: 'alice', expiresAt: Date.now() + 2 * HOUR, ttl: 2 * HOUR });
    await served.refresh(old, old);
    assert.deepEqual(served.sent, []);
  });

  it('a node that missed two refreshes in a row (cut off) moves the connection to the last token at its catch-up recheck, instead of dropping it', async () => {
    const { store, add, holder: cutOff, old, first, second } = await refreshedTwice();
    store.delete(old._id);
    store.delete(first._id);

    assert.equal(await cutOff.sync.recheck(), 0);
    assert.deepEqual(cutOff.entries(), ['ws-1 alice#second room-a']);
    assert.deepEqual(removed, []);

    // The same, with the last token revoked since: the connection is dropped.
    const revoked = add();
    revoked.manager.link(old, 'ws-9', 'room-a');
    store.delete(second._id);
    assert.equal(await revoked.sync.recheck(), 1);
    assert.deepEqual(removed.splice(0), ['ws-9']);
  });

  it('a node cut off during a refresh moves the connection at its catch-up recheck even while the old token is still stored for Kuzzle\'s grace period (marked refreshed)', async () => {
    const { store, holder: cutOff, old } = await refreshedOnce();
    cutOff.manager.link(token('bob', 'b', Date.now() + HOUR), 'ws-2', 'room-a');
    store.set('bob#b', false);
    assert.equal(store.get(old._id), true);
    assert.equal(await cutOff.sync.recheck(), 0);
    assert.deepEqual(cutOff.entries(), ['ws-2 bob#b room-a', 'ws-1 alice#new room-a']);
  });

  it('a refresh that arrives after the new token was revoked (a logout through another node, the user deleted) ends the connection instead of moving it, also when the store lost its data before the refresh (its record, written since, is still there)', async () => {
    for (const storeLostBefore of [false, true]) {
      const { store, records, served, holder: late, old, renewed } = await refreshedOnce({ storeLostBefore });
      assert.equal(records.size, 1);
      store.delete(renewed._id);
      store.delete(old._id);
      const [message] = served.sent;
      assert.ok(message);
      await late.receive(message);
      assert.deepEqual(late.entries(), [], storeLostBefore ? 'after a loss' : 'no loss');
      assert.deepEqual(removed.splice(0), ['ws-1']);
    }
  });

  it('a refresh that arrives after the store lost its data (a Redis flush: the new token gone, not revoked) moves the connection, as one Kuzzle keeps it', async () => {
    const { store, records, lost, served, holder: late, renewed } = await refreshedOnce();
    store.clear();
    records.clear();
    lost.value = true;
    const [message] = served.sent;
    assert.ok(message);
    await late.receive(message);
    assert.deepEqual(late.entries(), [`ws-1 ${renewed._id} room-a`]);
    assert.deepEqual(removed.splice(0), []);
  });

  it('a chain of refreshes is followed through a token kept for its grace period (refreshed within the last second) to the token in use', async () => {
    const { store, holder: cutOff, old, second } = await refreshedTwice();
    store.delete(old._id);
    assert.equal(store.get('alice#first'), true, 'the middle token still kept, marked refreshed');
    assert.equal(await cutOff.sync.recheck(), 0);
    assert.deepEqual(cutOff.entries(), [`ws-1 ${second._id} room-a`]);
  });

  it('Kuzzle\'s own expiry of another token (a logout served on this node) and a refresh\'s move run one after the other (each removes an entry by a position found before it waits)', async () => {
    const { add } = cluster();
    const served = add();
    const holder = add();
    const now = Date.now();
    const old = token('alice', 'old', now + HOUR);
    const yan = token('yan', 'y', now + 2 * HOUR);
    holder.manager.link(old, 'ws-1', 'room-a');
    holder.manager.link(yan, 'ws-2', 'room-a');
    await served.refresh(old, token('alice', 'new', now + 3 * HOUR));
    const [message] = served.sent;
    assert.ok(message);
    let release = (): void => undefined;
    slowRemoval.connectionId = 'ws-2';
    slowRemoval.until = new Promise<void>((resolve) => (release = resolve));
    const logout = holder.manager.expire(yan);
    const moving = holder.receive(message);
    await new Promise<void>((resolve) => setImmediate(resolve));
    release();
    await Promise.all([logout, moving]);
    slowRemoval.connectionId = undefined;
    assert.deepEqual(holder.entries(), ['ws-1 alice#new room-a']);
    assert.deepEqual(removed.splice(0), ['ws-2']);
  });

  it('a revocation of the new token while a move to it waits for the store\'s answer (which said kept) still ends the connection: revocations pick their entries in turn with the moves', async () => {
    const { store, served, holder, renewed } = await refreshedOnce();
    const [message] = served.sent;
    assert.ok(message);
    const held = gate();
    Object.assign(slowRead, { id: renewed._id, skip: 0, until: held.until }); // the move's read, in its turn
    const moving = holder.receive(message);
    for (let turns = 0; slowRead.skip >= 0; turns++) {
      if (turns > 10_000) throw new Error('the move never read the store');
      await nextTurn();
    }
    store.delete(renewed._id); // a logout through another node
    const revoking = holder.sync.handlers['kuzzle:token:revoke']({ tokenHash: hashTokenIndex(tokenIndex(renewed)), expiresAt: renewed.expiresAt }, { id: 'n3', incarnation: 1 });
    await nextTurn();
    held.release();
    await Promise.all([moving, revoking]);
    slowRead.id = undefined;
    assert.deepEqual(holder.entries(), []);
    assert.deepEqual(removed.splice(0), ['ws-1']);
  });

  it('a move that waited its turn while the new token was refreshed again (that refresh found nothing to move yet) goes to the newest token', async () => {
    const { store, served, holder, renewed } = await refreshedOnce();
    const yan = token('yan', 'y', Date.now() + HOUR);
    holder.manager.link(yan, 'ws-2', 'room-a');
    const [first] = served.sent;
    assert.ok(first);
    // A logout served on the holder, slow to remove its connection's rooms, holds the queue.
    const held = gate();
    Object.assign(slowRemoval, { connectionId: 'ws-2', until: held.until });
    const logout = holder.manager.expire(yan);
    const moving = holder.receive(first);
    const newest = token('alice', 'newest', Date.now() + 3 * HOUR);
    await served.refresh(renewed, newest);
    const second = served.sent[1];
    assert.ok(second);
    await holder.receive(second);
    held.release();
    await Promise.all([logout, moving]);
    slowRemoval.connectionId = undefined;
    assert.equal(store.get(renewed._id), true);
    assert.deepEqual(holder.entries(), [`ws-1 ${newest._id} room-a`]);
    assert.deepEqual(removed.splice(0), ['ws-2']);
  });

  it('Kuzzle\'s expire is wrapped once per token manager, whatever the number of TokenSyncs over it', () => {
    const manager = new TokenManager();
    managers.push(manager);
    const stores = { readApiKey: async () => null, readToken: async () => null, heldAtStoreLoss: async () => new Set<string>(), foundInStore: () => undefined, refreshes: { write: async () => undefined, read: async () => null } };
    const channel = { send: async () => undefined, log: () => undefined };
    new TokenSync(channel, { tokenManager: manager }, stores);
    const wrapped = manager.expire;
    new TokenSync(channel, { tokenManager: manager }, stores);
    assert.equal(manager.expire, wrapped);
  });

  it('a refresh asked again late, after the new token was refreshed in turn, moves the connection to the latest token', async () => {
    const { store, served, holder: late, first } = await refreshedTwice();
    store.delete(first._id);
    const [message] = served.sent;
    assert.ok(message);
    await late.receive(message);
    assert.deepEqual(late.entries(), ['ws-1 alice#second room-a']);
  });
});
