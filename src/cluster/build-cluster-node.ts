import { resolveBinding } from '../config/bindings';
import type { RedisSettings } from '../config/options';
import { StateAvailability } from '../state/availability';
import { RedisSharedState } from '../state/redis-shared-state';
import { PROTOCOL_VERSION } from '../transport/envelope';
import { ZmqTransport } from '../transport/zmq-transport';
import { ClusterNode, type ClusterNodeParts, type ClusterNodeSettings } from './cluster-node';
import { checkExposure, curveKeysOf } from './exposure';

/** Settings of a node on its real parts: the cluster node's, and the Redis it keeps its state in. */
export type RealNodeSettings = ClusterNodeSettings & { redis: RedisSettings };

/**
 * The real parts of a node: ZeroMQ sockets on the configured bindings and
 * the shared state in Redis. Checks the bindings first: a non-loopback
 * address without a CURVE key refuses to start (unless `insecure`).
 *
 * @throws ConfigError on a binding that cannot be used, or an exposed port without a key.
 */
export function realParts(settings: RealNodeSettings): ClusterNodeParts & { transport: ZmqTransport } {
  const { options, log } = settings;
  const router = resolveBinding('bindings.router', options.bindings.router);
  const pub = resolveBinding('bindings.pub', options.bindings.pub);
  checkExposure([['bindings.router', router], ['bindings.pub', pub]], options.curve, options.insecure, log);
  const availability = new StateAvailability();
  const state = new RedisSharedState(
    settings.redis,
    { clusterName: options.clusterName, cardTtlMs: options.timers.cardTtl, protocol: PROTOCOL_VERSION, retryMs: options.timers.redisRetry, connectMs: options.timers.redisConnect, listingTtlMs: options.timers.heartbeat },
    availability,
    log,
  );
  const transport = new ZmqTransport({
    nodeId: settings.id,
    router,
    pub,
    curve: options.curve ? curveKeysOf(options.curve) : undefined,
    maxFrameBytes: options.maxFrameBytes,
    maxMessageBytes: options.maxMessageBytes,
    sendHighWaterMark: options.highWaterMark,
    log,
  });
  return { transport, state, availability };
}

/** A node on its real parts (see {@link realParts}). */
export function buildClusterNode(settings: RealNodeSettings): ClusterNode {
  return new ClusterNode(settings, realParts(settings));
}
