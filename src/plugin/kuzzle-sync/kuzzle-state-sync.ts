import type { Handlers } from '../../bus/message-spec';
import type { ClusterNode } from '../../cluster/cluster-node';
import { describeError } from '../../util/describe-error';
import type { Log } from '../../util/log';
import type { EventHandler, PipeHandler } from '../handlers';
import { mergeHandlers } from '../handlers';
import type { KuzzleIntegration } from '../kuzzle-integration';
import type { KuzzleLike, KuzzleStateInternals } from '../kuzzle-types';
import { AdminSync } from './admin-sync';
import { AppEvents } from './app-events';
import { IndexCacheSync } from './index-cache-sync';
import { KuzzleChannel } from './kuzzle-channel';
import { KUZZLE_MESSAGES, type KuzzleMessages } from './messages';
import { SecuritySync } from './security-sync';
import { StrategySync } from './strategy-sync';
import { TokenStoreMark } from './token-store-mark';
import { TokenSync } from './token-sync';
import { ValidationSync } from './validation-sync';

/** Where a token refresh is kept in Kuzzle's internal cache (see TokenRefreshes). */
const refreshKey = (tokenHash: string): string => `kpc/token-refresh/${tokenHash}`;

/** Delay before a catch-up that failed is tried again. */
const CATCH_UP_RETRY_MS = 5000;
/** What a retried catch-up's reason starts with (once, however many times it is tried again). */
const RETRY_PREFIX = 'retry after: ';

/** What this module needs from the cluster node. */
type ClusterPort = Pick<ClusterNode, 'id' | 'register' | 'records' | 'onCatchUp' | 'onStateLost' | 'reportCatchUp' | 'reset'>;

/**
 * Keeps Kuzzle's own per-node state (index cache, security caches,
 * validation specs, token links, auth strategies) in step across nodes, makes
 * admin actions cluster-wide and answers `app.cluster.*`. Declares the hooks
 * and pipes it needs; the plugin merges them with the realtime ones. Each
 * concern lives in its own module; this class wires them and registers their
 * message handlers in one table (a missing one does not compile).
 */
export class KuzzleStateSync {
  readonly hooks: Record<string, EventHandler>;
  readonly pipes: Record<string, PipeHandler>;
  private readonly channel: KuzzleChannel;
  private readonly strategies: StrategySync;
  private readonly indexes: IndexCacheSync;
  private readonly security: SecuritySync;
  private readonly validation: ValidationSync;
  private readonly tokens: TokenSync;
  private readonly storeMark: TokenStoreMark;
  private started: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly node: ClusterPort,
    kuzzle: KuzzleLike & KuzzleStateInternals,
    log: Log,
    timers: { stateAckMs: number; questionMs: number },
    integration: Pick<KuzzleIntegration, 'indexStats'>,
  ) {
    this.channel = new KuzzleChannel(log, timers);
    this.indexes = new IndexCacheSync(this.channel, kuzzle, integration.indexStats);
    const readInternal = (collection: string, id: string): Promise<unknown> =>
      kuzzle.ask('core:storage:private:document:get', kuzzle.internalIndex?.index ?? 'kuzzle', collection, id);
    this.security = new SecuritySync(this.channel, kuzzle, readInternal);
    this.validation = new ValidationSync(this.channel, async () => {
      if (!kuzzle.validation) throw new Error('this Kuzzle has no validation module');
      await kuzzle.validation.curateSpecification();
    });
    // Kuzzle 2.9 and 2.10 answer it; without it no token is found gone.
    const readToken = (userId: string, jwt: string): Promise<unknown> =>
      kuzzle.hasAskAnswerer?.('core:security:token:get') === true ? kuzzle.ask('core:security:token:get', userId, jwt) : Promise.resolve(undefined);
    this.storeMark = new TokenStoreMark(
      {
        get: (key) => kuzzle.ask('core:cache:internal:get', key),
        storeIfNew: async (key, value) => void (await kuzzle.ask('core:cache:internal:store', key, value, { onlyIfNew: true })),
      },
      () => (kuzzle.tokenManager?.tokens.array ?? []).flatMap((token) => (token._id === null ? [] : [token._id])),
      log,
    );
    // Beside the tokens, in Kuzzle's internal cache: flushed with them.
    const refreshes = {
      write: async (tokenHash: string, sealed: string, ttl: number): Promise<void> => void (await kuzzle.ask('core:cache:internal:store', refreshKey(tokenHash), sealed, { ttl })),
      read: async (tokenHash: string): Promise<string | null> => {
        const sealed = await kuzzle.ask('core:cache:internal:get', refreshKey(tokenHash));
        return typeof sealed === 'string' ? sealed : null;
      },
    };
    this.tokens = new TokenSync(this.channel, kuzzle, {
      readApiKey: (id) => readInternal('api-keys', id),
      readToken,
      heldAtStoreLoss: () => this.storeMark.heldAtLosses(),
      foundInStore: (tokenId) => this.storeMark.foundInStore(tokenId),
      refreshes,
    });
    const tokens = this.tokens;
    this.strategies = new StrategySync(this.channel, node.records('strategies'), kuzzle);
    const admin = new AdminSync(this.channel, node.id, kuzzle);
    const appEvents = new AppEvents(this.channel, kuzzle);

    const handlers: Handlers<KuzzleMessages> = {
      ...this.indexes.handlers,
      ...this.security.handlers,
      ...this.validation.handlers,
      ...tokens.handlers,
      ...tokens.refreshes.handlers,
      ...this.strategies.handlers,
      ...admin.handlers,
      ...appEvents.handlers,
    };
    this.channel.bind(node.register(KUZZLE_MESSAGES, handlers));

    const resetSecurity = {
      // Every user was deleted, with its tokens, through no event: peers drop
      // the connections of tokens now gone as well as every role and profile.
      'admin:afterResetSecurity': async (request: unknown) => {
        await Promise.all([this.security.dropEverywhere(), tokens.recheckEverywhere()]);
        return request;
      },
    };
    const resetCache = {
      // Flushing Kuzzle's cache flushes the cluster's keys too (same Redis by
      // default): the action answers once every node wrote its state back.
      'admin:afterResetCache': async (request: unknown) => {
        await this.restoreAfterFlush();
        return request;
      },
    };
    this.hooks = mergeHandlers('hook', this.indexes.hooks, admin.hooks, this.security.hooks);
    this.pipes = mergeHandlers('pipe', this.indexes.pipes, this.security.pipes, this.validation.pipes, tokens.pipes, tokens.refreshes.pipes, admin.pipes, this.strategies.pipes, resetSecurity, resetCache);
    node.onCatchUp((reason) => this.catchUp(reason));
    node.onStateLost(() => this.strategies.persistAgain());
  }

  /** Loads the Kuzzle-wide state a node must apply when it joins. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.storeMark.watch().then(() => this.catchUp('joined the cluster'));
    return this.started;
  }

  /** As the node leaves: no more looks at the token store's mark, nor catch-ups tried again. */
  stop(): void {
    this.stopped = true;
    this.storeMark.stop();
    this.strategies.stop();
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  private async restoreAfterFlush(): Promise<void> {
    try {
      await this.node.reset();
      await this.strategies.persistAgain();
    } catch (error) {
      this.channel.log('error', `could not restore the cluster state after resetCache: ${describeError(error)}`);
    }
  }

  /**
   * What this node may have missed before it joined, or while it was cut
   * off: runtime strategies (from the shared state), indexes created or
   * deleted meanwhile (from a peer), rights and specifications (reloaded
   * from Elasticsearch), and tokens revoked meanwhile (checked against the
   * shared token store: their connections here are dropped). A step that
   * found no member to answer is reported in status and tried again at the
   * next catch-up.
   */
  private async catchUp(reason: string): Promise<void> {
    // Rights first: the node serves requests meanwhile, and the steps that
    // ask Redis (retried through an outage) or a peer (up to its deadline)
    // must not keep stale rights or revoked tokens in force while they wait.
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['roles and profiles', () => this.security.invalidate({ kind: 'all' })],
      ['revoked tokens', () => this.tokens.recheck({ keepIfStoreLost: true })],
      ['validation specifications', () => this.validation.reload()],
      ['auth strategies', () => this.strategies.catchUp()],
      ['index cache', () => this.indexes.catchUp()],
    ];
    const failures: string[] = [];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        failures.push(`${what}: ${describeError(error)}`);
        this.channel.log('error', `could not catch up on ${what} (${reason}): ${describeError(error)}`);
      }
    }
    this.node.reportCatchUp(failures.length > 0 ? failures.join('; ') : undefined);
    // Not after the node left: a catch-up under way then fails (Redis and the transport closed).
    if (failures.length > 0 && !this.retry && !this.stopped) {
      const first = reason.startsWith(RETRY_PREFIX) ? reason : `${RETRY_PREFIX}${reason}`;
      this.retry = setTimeout(() => {
        this.retry = undefined;
        void this.catchUp(first);
      }, CATCH_UP_RETRY_MS);
      this.retry.unref();
    }
  }
}
