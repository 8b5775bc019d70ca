import type { Cluster, Redis } from 'ioredis';
import type { RedisSettings } from '../config/options';
import type { CardStore } from '../membership/card-store';
import type { Log } from '../util/log';
import type { StateAvailability } from './availability';
import { RedisEpoch } from './epoch';
import { clusterPrefix, StateKeys } from './keys';
import { RedisCardStore } from './node-cards';
import { checkRedis } from './redis-check';
import { createRedisClient } from './redis-client';
import { RedisRetry } from './redis-retry';
import { RedisRealtimeStore } from './redis-realtime-store';
import { RedisSharedRecords, type SharedRecords } from './shared-records';
import type { EpochProbe, SharedState, StateMark } from './shared-state';

export interface RedisSharedStateOptions {
  clusterName: string;
  /** ms a card lives without renewal. */
  cardTtlMs: number;
  /** This node's wire protocol (see RedisCardStore). */
  protocol: number;
  /** Bound of the retries of a transient failure (see RedisRetry). */
  retryMs: number;
  /** Bound of the start-up check. */
  connectMs: number;
  /** How long this node trusts the index listings it wrote (see GlobalIndex.list): a heartbeat. */
  listingTtlMs: number;
}

/** {@link SharedState} in Redis (one server or a Redis Cluster), under the cluster's key prefix. */
export class RedisSharedState implements SharedState {
  readonly cards: CardStore;
  readonly realtime: RedisRealtimeStore;
  readonly epoch: EpochProbe;
  private readonly redis: Redis | Cluster;
  private readonly keys: StateKeys;
  private readonly retry: RedisRetry;

  constructor(
    private readonly settings: RedisSettings,
    private readonly options: RedisSharedStateOptions,
    availability: StateAvailability,
    log: Log,
  ) {
    this.redis = createRedisClient(settings, (message) => log('warn', `redis: ${message}`));
    this.keys = new StateKeys(clusterPrefix(options.clusterName));
    this.retry = new RedisRetry({ maxMs: options.retryMs }, availability);
    this.cards = new RedisCardStore(this.redis, this.keys, options.cardTtlMs, options.protocol);
    this.realtime = new RedisRealtimeStore(this.redis, this.keys, this.retry, { listingTtlMs: options.listingTtlMs });
    this.epoch = new RedisEpoch(this.redis, this.keys);
  }

  records(name: string): SharedRecords {
    return new RedisSharedRecords(this.redis, this.keys, name, this.retry);
  }

  mark(nodeId: string): StateMark {
    const key = this.keys.mark(nodeId);
    return {
      key,
      write: async (value, ttlMs) => void (await this.redis.set(key, value, 'PX', ttlMs)),
      read: () => this.redis.get(key),
    };
  }

  /**
   * Waits until Redis answers (at most `connectMs`), so that a wrong
   * address, password or TLS setting stops Kuzzle at start-up with the
   * Redis address and the failure, never the password.
   *
   * @throws RedisUnavailableError
   */
  async connect(): Promise<void> {
    try {
      await checkRedis(this.redis, this.settings, this.options.connectMs);
    } catch (error) {
      this.redis.disconnect();
      throw error;
    }
  }

  close(): void {
    this.redis.disconnect();
  }
}
