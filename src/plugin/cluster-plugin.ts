import { ClusterController } from '../api/cluster-controller';
import { ClusterNode } from '../cluster/cluster-node';
import { parseOptions, type ClusterOptions, type RedisSettings } from '../config/options';
import { ConfigError } from '../config/errors';
import { KuzzleStateSync } from '../sync/kuzzle/kuzzle-state-sync';
import { RealtimeGlue } from './realtime-glue';
import { KuzzleRealtimeHost } from './kuzzle-realtime-host';
import type { KuzzleLike, PluginContextLike } from './kuzzle-types';
import { mergeHandlers, type EventHandler } from './merge-handlers';
import { pluginLog } from './plugin-log';
import { assertNoBuiltinCluster } from './refuse-builtin-cluster';

/**
 * The Kuzzle glue: declares hooks, pipes and routes, and hands every event to
 * the cluster node. Kept thin on purpose: the logic lives in cluster/,
 * membership/, state/, sync/ and transport/.
 */
export class ClusterPlugin {
  config: ClusterOptions | undefined;
  context: PluginContextLike | undefined;
  hooks: Record<string, EventHandler> = {};
  pipes: Record<string, EventHandler> = {};
  api: Record<string, { actions: Record<string, { handler: EventHandler; http: Array<{ verb: string; path: string }> }> }> = {};
  private node: ClusterNode | undefined;
  private kuzzle: KuzzleLike | undefined;

  async init(rawConfig: unknown, context: PluginContextLike): Promise<void> {
    const kuzzle = context.accessors.kuzzle;
    if (!kuzzle) {
      throw new ConfigError('privileged', 'the cluster plugin must run in privileged mode: set "privileged: true" in plugins.cluster');
    }
    assertNoBuiltinCluster(kuzzle, kuzzle.version);
    this.kuzzle = kuzzle;
    this.context = context;
    const config = parseOptions(rawConfig, (message) => context.log.warn(message));
    this.config = config;
    const redis = config.redis ?? redisSettingsOf(kuzzle.config.services.internalCache);
    const log = pluginLog(context);
    const host = new KuzzleRealtimeHost(kuzzle, context);
    const node = new ClusterNode(config, redis, host, log, kuzzle.version);
    this.node = node;
    const realtime = new RealtimeGlue(node, host, kuzzle, context);
    const kuzzleSync = new KuzzleStateSync(node, kuzzle, context);
    const controller = new ClusterController(() => this.node, context, () => ({
      kuzzleState: [...kuzzleSync.channel.malformed.values()].reduce((sum, n) => sum + n, 0),
      kuzzleStateFailures: kuzzleSync.channel.failures,
    }));

    const realtimeHooks = {
      'core:notify:document': (payload: never) => realtime.forwardDocument(payload),
      'core:notify:user': (payload: never) => realtime.forwardUser(payload),
      'kuzzle:shutdown': () => this.leaveBeforeExit(),
    };
    const realtimePipes = {
      'kuzzle:state:live': async (payload: never) => {
        await node.start();
        // Before the first client request: what the node missed while starting.
        await kuzzleSync.start();
        return payload;
      },
      'core:realtime:user:subscribe:after': (diff: never) => realtime.subscribed(diff),
      'core:realtime:user:join:after': (diff: never) => realtime.subscribed(diff),
      'core:realtime:user:unsubscribe:after': (payload: never) => realtime.unsubscribed(payload),
      'core:realtime:room:remove:before': (roomId: never) => realtime.beforeRoomRemove(roomId),
      'realtime:beforeJoin': (request: never) => realtime.ensureLocalRoom(request),
      'realtime:afterCount': (request: never) => realtime.clusterCount(request),
      'realtime:errorCount': (request: never) => realtime.countOfRemoteRoom(request),
      'realtime:afterList': (request: never) => realtime.clusterList(request),
    };
    this.hooks = mergeHandlers('hook', realtimeHooks, kuzzleSync.hooks);
    this.pipes = mergeHandlers('pipe', realtimePipes, kuzzleSync.pipes);
    // Kuzzle 2.11+ has a native "cluster" controller; the routes stay the same.
    const controllerName = (await kuzzle.ask('kuzzle:api:funnel:controller:isNative', 'cluster')) ? 'cluster-plugin' : 'cluster';
    this.api = {
      [controllerName]: {
        actions: {
          status: { handler: async () => controller.status(), http: [{ verb: 'get', path: '/_plugin/cluster/status' }] },
          health: { handler: async () => controller.health(), http: [{ verb: 'get', path: '/_plugin/cluster/health' }] },
          reset: { handler: async () => controller.reset(), http: [{ verb: 'post', path: '/_plugin/cluster/reset' }] },
        },
      },
    };
  }

  /**
   * Kuzzle's shutdown exits as soon as no request is in flight, without
   * awaiting hooks. Counting the leave as an in-flight request holds the exit
   * (bounded by timers.leaveTimeout) until peers and Redis forget this node.
   */
  private leaveBeforeExit(): void {
    const node = this.node;
    const funnel = this.kuzzle?.funnel;
    if (!node) return;
    const hold = funnel && typeof funnel.concurrentRequests === 'number';
    if (hold) funnel.concurrentRequests++;
    const timeout = new Promise((resolve) => setTimeout(resolve, this.config?.timers.leaveTimeout ?? 3000).unref());
    void Promise.race([node.stop(), timeout])
      .catch((error: Error) => this.context?.log.error(`[cluster] leave failed: ${error.message}`))
      .finally(() => {
        if (hold) funnel.concurrentRequests--;
      });
  }
}

function redisSettingsOf(internalCache: Record<string, unknown>): RedisSettings {
  const { node, nodes, database, options, clusterOptions } = internalCache as RedisSettings;
  return { node, nodes, database, options, clusterOptions };
}

