import type { Cluster, Redis } from 'ioredis';
import type { CardStore } from '../membership/card-store';
import { parseNodeCard, type NodeCard } from '../membership/node-card';
import { execAll } from './exec';
import type { StateKeys } from './keys';
import { defineScripts, runScript } from './scripts';

/**
 * {@link CardStore} over Redis: cards in one hash, their expiry in a sorted
 * set (score = epoch ms), both in the `{<prefix>:nodes}` slot. A card not
 * renewed within `ttlMs` is no longer listed and is pruned on the way.
 */
export class RedisCardStore implements CardStore {
  private lastIncarnation = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: StateKeys,
    private readonly ttlMs: number,
  ) {
    defineScripts(redis);
  }

  async register(card: NodeCard): Promise<void> {
    await execAll(
      this.redis.multi().hset(this.keys.cards, card.id, JSON.stringify(card)).zadd(this.keys.cardExpiry, Date.now() + this.ttlMs, card.id),
    );
  }

  async unregister(id: string): Promise<void> {
    await execAll(this.redis.multi().hdel(this.keys.cards, id).zrem(this.keys.cardExpiry, id));
  }

  async list(): Promise<NodeCard[]> {
    const now = Date.now();
    // One script, not a read then a MULTI: a card renewed in between would
    // lose its data while its renewed expiry stays (a live node read as dead).
    await runScript(this.redis, 'pruneCards', [this.keys.cards, this.keys.cardExpiry], [now]);
    const ids = await this.redis.zrangebyscore(this.keys.cardExpiry, now, '+inf');
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget(this.keys.cards, ...ids);
    return raw.map((json) => (json === null ? undefined : this.parse(json))).filter((card): card is NodeCard => card !== undefined);
  }

  async get(id: string): Promise<NodeCard | undefined> {
    const [expiry, json] = await Promise.all([this.redis.zscore(this.keys.cardExpiry, id), this.redis.hget(this.keys.cards, id)]);
    if (expiry === null || Number(expiry) < Date.now() || json === null) return undefined;
    return this.parse(json);
  }

  async renewedAt(id: string): Promise<number | undefined> {
    const expiry = await this.redis.zscore(this.keys.cardExpiry, id);
    return expiry === null ? undefined : Number(expiry) - this.ttlMs;
  }

  /**
   * Unique cluster-wide (a Redis counter) and growing for this process even
   * if Redis lost the counter: fences compare incarnations of one node.
   */
  async nextIncarnation(): Promise<number> {
    const counter = await this.redis.incr(this.keys.incarnations);
    this.lastIncarnation = Math.max(counter, this.lastIncarnation + 1);
    return this.lastIncarnation;
  }

  private parse(json: string): NodeCard | undefined {
    try {
      return parseNodeCard(JSON.parse(json));
    } catch {
      return undefined; // a corrupted card is skipped; it expires by itself
    }
  }
}
