import { ClusterController } from '../api/cluster-controller';
import { renderMetrics } from '../api/prometheus';
import { buildClusterNode } from '../cluster/build-cluster-node';
import { redactConfig } from './redact-config';
import { ConfigError } from '../config/errors';
import { parseOptions, type ClusterOptions } from '../config/options';
import { redisSettingsOf } from '../config/redis-settings';
import { curveFromVault } from './vault';
import { leaveGracefully } from './graceful-leave';
import { mergeHandlers, type EventHandler, type PipeHandler } from './handlers';
import { guardKoncordeMinimizer } from './espresso-close-guard';
import { detectIntegration } from './kuzzle-integration';
import { captureChanges } from './change-capture';
import { answerRealtimeQueries } from './realtime-queries';
import { KuzzleRealtimeHost } from './kuzzle-realtime-host';
import { LocalNotifier } from './local-notifier';
import { MemoryStorageGuard } from './memory-storage-guard';
import { keyPrefixesOf, SharingWatch } from './memory-storage-probe';
import { KuzzleStateSync } from './kuzzle-sync/kuzzle-state-sync';
import type { KuzzleLike, KuzzleRequestLike, KuzzleStateInternals, PluginContextLike } from './kuzzle-types';
import { pluginLog } from './plugin-log';
import { RealtimeGlue } from './realtime-glue';
import { assertNoBuiltinCluster } from './refuse-builtin-cluster';

type ApiDefinition = Record<string, { actions: Record<string, { handler: (request: KuzzleRequestLike) => Promise<unknown>; http: Array<{ verb: string; path: string }> }> }>;

/** Kuzzle's id for requests without a signed-in user. */
const ANONYMOUS_KUID = '-1';

/**
 * The Kuzzle glue: declares hooks, pipes and routes, and hands every event
 * to the cluster node. Kept thin on purpose: the logic lives in cluster/,
 * membership/, state/, sync/, transport/ and plugin/kuzzle-sync/.
 */
export class ClusterPlugin {
  config: ClusterOptions | undefined;
  hooks: Record<string, EventHandler> = {};
  pipes: Record<string, PipeHandler> = {};
  api: ApiDefinition = {};

  async init(rawConfig: unknown, context: PluginContextLike): Promise<void> {
    const kuzzle = context.accessors.kuzzle as (KuzzleLike & KuzzleStateInternals) | undefined;
    if (!kuzzle) {
      throw new ConfigError('privileged', 'the cluster plugin must run in privileged mode: set "privileged: true" in plugins.cluster');
    }
    assertNoBuiltinCluster(kuzzle, kuzzle.version);
    const integration = detectIntegration(kuzzle, kuzzle.version);
    const log = pluginLog(context.log, kuzzle.id);
    log('info', integration.description);
    log('info', kuzzle.rootPath ? guardKoncordeMinimizer(kuzzle.rootPath) : "Koncorde's filter minimiser not guarded: Kuzzle's rootPath is unknown");
    const config = parseOptions(rawConfig, (message) => log('warn', message));
    config.curve ??= curveFromVault(kuzzle);
    this.config = config;
    const notifier = new LocalNotifier(kuzzle);
    const host = new KuzzleRealtimeHost(kuzzle, context, notifier);
    const node = buildClusterNode({
      id: kuzzle.id,
      kuzzleVersion: kuzzle.version,
      options: config,
      redis: config.redis ?? redisSettingsOf(kuzzle.config.services.internalCache),
      host,
      log,
    });
    // Before anything else uses Redis: a wrong address, password or TLS setting stops Kuzzle here, saying which.
    await node.connectState();
    const realtime = new RealtimeGlue(node.realtime, host, kuzzle, context);
    captureChanges(kuzzle, notifier, node.realtime, log);
    answerRealtimeQueries(kuzzle, realtime);
    const msKeyPrefixes = keyPrefixesOf(kuzzle.config.services.memoryStorage);
    const msGuard = new MemoryStorageGuard((message) => new context.errors.ForbiddenError(`[cluster] ${message}`), msKeyPrefixes);
    const sharing = new SharingWatch(msGuard, msGuard.install(kuzzle.coreAnswerers ?? new Map()), node.stateMark(), msKeyPrefixes, log);
    const kuzzleSync = new KuzzleStateSync(
      node,
      kuzzle,
      log,
      { stateAckMs: config.timers.stateAck, questionMs: config.timers.discoverTimeout },
      integration,
    );
    const ServiceUnavailable = context.errors.ServiceUnavailableError ?? context.errors.InternalError;
    const Unauthorized = context.errors.UnauthorizedError ?? context.errors.ForbiddenError;
    // Node ids, addresses and counters are for operators: anonymous users get health only.
    const signedIn = (request: KuzzleRequestLike): void => {
      const user = request.context.user;
      if (!user || user._id === ANONYMOUS_KUID) throw new Unauthorized('the cluster status and reset routes need a signed-in user with the right to call them');
    };
    const TooManyRequests = context.errors.TooManyRequestsError ?? ServiceUnavailable;
    const glue = () => ({ memoryStorage: msGuard.stats() });
    const controller = new ClusterController(node, (message) => new ServiceUnavailable(message), (message) => new TooManyRequests(message), glue);

    let leaving: Promise<void> | undefined;
    const realtimeHooks = {
      'core:notify:user': (payload: never) => realtime.forwardUser(payload),
      'kuzzle:shutdown': () => {
        sharing.stop();
        kuzzleSync.stop();
        // Kuzzle shuts down again at each signal: one leave (two would each wait for the other's hold to end).
        leaving ??= leaveGracefully(kuzzle.funnel, node, config.timers.leaveTimeout, log);
      },
    };
    const realtimePipes: Record<string, PipeHandler> = {
      'kuzzle:state:live': async (payload: never) => {
        await node.start();
        try {
          // Before the first client request: what the node missed while starting.
          await kuzzleSync.start();
        } catch (error) {
          // Kuzzle will not serve: peers must not count this node in.
          kuzzleSync.stop();
          await node.abandonStart(error);
          throw error;
        }
        // Not awaited: the guard is on until the rounds tell, and a memoryStorage that does not answer must not hold the start.
        void sharing.start();
        return payload;
      },
      'core:realtime:user:subscribe:after': (diff: never) => realtime.subscribed(diff),
      'core:realtime:user:join:after': (diff: never) => realtime.subscribed(diff),
      'core:realtime:user:unsubscribe:after': (payload: never) => realtime.unsubscribed(payload),
      'notify:user': (notification: never) => realtime.userNotification(notification),
    };
    const configPipes: Record<string, PipeHandler> = {
      // server:getConfig shows Kuzzle's whole configuration: never the secrets the cluster uses.
      'server:afterGetConfig': async (request: KuzzleRequestLike) => {
        request.setResult(redactConfig(request.result));
        return request;
      },
    };
    this.hooks = mergeHandlers('hook', realtimeHooks, kuzzleSync.hooks);
    this.pipes = mergeHandlers('pipe', realtimePipes, configPipes, kuzzleSync.pipes);
    // Kuzzle 2.11+ has a native "cluster" controller; the routes stay the same.
    const controllerName = (await kuzzle.ask('kuzzle:api:funnel:controller:isNative', 'cluster')) ? 'cluster-plugin' : 'cluster';
    this.api = {
      [controllerName]: {
        actions: {
          status: {
            handler: async (request: KuzzleRequestLike) => {
              signedIn(request);
              return controller.status();
            },
            http: [{ verb: 'get', path: '/_plugin/cluster/status' }],
          },
          health: { handler: async () => controller.health(), http: [{ verb: 'get', path: '/_plugin/cluster/health' }] },
          metrics: {
            handler: async (request: KuzzleRequestLike) => {
              signedIn(request);
              const text = renderMetrics(await node.metrics(), glue());
              // Prometheus reads plain text, not Kuzzle's JSON envelope.
              request.setResult(text, { raw: true, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' } });
              return text;
            },
            http: [{ verb: 'get', path: '/_plugin/cluster/metrics' }],
          },
          reset: {
            handler: async (request: KuzzleRequestLike) => {
              signedIn(request);
              return controller.reset();
            },
            http: [{ verb: 'post', path: '/_plugin/cluster/reset' }],
          },
        },
      },
    };
  }
}
