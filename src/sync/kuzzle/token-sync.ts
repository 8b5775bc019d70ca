import { createHash } from 'crypto';
import type { KuzzleStateInternals } from '../../plugin/kuzzle-types';
import { isName, isObject, requestInput, type SyncChannel } from './channel';

/**
 * One revoked token, or every token of a user. A token's id embeds the JWT
 * (`<kuid>#<jwt>` in Kuzzle 2.10): only a hash of the token's index in
 * Kuzzle's token manager (`<expiresAt>;<id>`) travels between nodes.
 */
export type TokenRevocation = { tokenHash: string } | { kuid: string };

/** Hash of the key Kuzzle's token manager files a token under. */
export const hashTokenIndex = (index: string): string => createHash('sha256').update(index).digest('hex');

export function parseTokenRevocation(body: unknown): TokenRevocation | undefined {
  if (!isObject(body)) return undefined;
  if (isName(body.kuid)) return { kuid: body.kuid };
  if (typeof body.tokenHash === 'string' && /^[0-9a-f]{64}$/.test(body.tokenHash)) return { tokenHash: body.tokenHash };
  return undefined;
}

const isTrue = (value: unknown): boolean => value === true || value === 'true' || value === 1 || value === '';

/**
 * Tokens live in the shared internal Redis, so a token deleted through one
 * node is refused by all. What is per node is Kuzzle's tokenManager: the
 * link between a token and the connections (and so the subscriptions) that
 * use it on that node. A revocation is therefore replayed on each peer's
 * tokenManager, which drops that connection's subscriptions, exactly as the
 * node that served the logout does for its own connections.
 */
export class TokenSync {
  /** Pipes: the client's answer waits until every peer has dropped what the token fed. */
  readonly pipes: Record<string, (request: unknown) => Promise<unknown>> = {
    'auth:afterLogout': (request) => this.revoke(request, this.loggedOut(request)),
    'security:afterRevokeTokens': (request) => this.revoke(request, this.byResourceId(request)),
    'security:afterDeleteUser': (request) => this.revoke(request, this.byResourceId(request)),
    'security:afterMDeleteUsers': (request) => this.revoke(request, this.deletedUsers(request)),
  };

  constructor(private readonly channel: SyncChannel, private readonly kuzzle: KuzzleStateInternals) {
    channel.on('token:revoke', parseTokenRevocation, (revocation) => this.apply(revocation));
  }

  private async revoke(request: unknown, revocations: TokenRevocation[]): Promise<unknown> {
    await Promise.all(revocations.map((revocation) => this.channel.send('token:revoke', revocation)));
    return request;
  }

  private loggedOut(request: unknown): TokenRevocation[] {
    const context = isObject(request) && isObject(request.context) ? request.context : {};
    const user = isObject(context.user) ? context.user : {};
    if (isTrue(requestInput(request).args.global) && isName(user._id)) return [{ kuid: user._id }];
    const token = isObject(context.token) ? context.token : {};
    if (!isName(token._id) || typeof token.expiresAt !== 'number') return [];
    return [{ tokenHash: hashTokenIndex(`${token.expiresAt};${token._id}`) }];
  }

  private byResourceId(request: unknown): TokenRevocation[] {
    const kuid = requestInput(request).resource._id;
    return isName(kuid) ? [{ kuid }] : [];
  }

  /** Only the users actually deleted: a partial failure leaves the others' tokens valid. */
  private deletedUsers(request: unknown): TokenRevocation[] {
    const result = isObject(request) ? request.result : undefined;
    return Array.isArray(result) ? result.filter(isName).map((kuid) => ({ kuid })) : [];
  }

  private async apply(revocation: TokenRevocation): Promise<void> {
    const manager = this.kuzzle.tokenManager;
    if (!manager) return;
    // Copy: expire() removes entries from the array we walk.
    const tokens = manager.tokens.array.filter((token) =>
      'kuid' in revocation
        ? token.userId === revocation.kuid
        : hashTokenIndex(token.idx) === revocation.tokenHash,
    );
    // The entry itself: expire() finds it by the same index.
    for (const token of tokens) await manager.expire(token);
  }
}
