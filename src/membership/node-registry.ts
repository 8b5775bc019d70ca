import type { Cluster, Redis } from 'ioredis';
import { parseNodeCard, type NodeCard } from './node-card';

/**
 * Node cards in Redis, each under its own key with a TTL the node keeps
 * renewing, so a crashed node's card disappears by itself. A sorted set
 * (score = expiry) lists the ids; both share one hash tag so a Redis Cluster
 * keeps them in one slot.
 */
export class NodeRegistry {
  private readonly indexKey: string;

  constructor(private readonly redis: Redis | Cluster, private readonly prefix: string, private readonly ttlMs: number) {
    this.indexKey = `${prefix}:{${prefix}:nodes}:index`;
  }

  private cardKey(id: string): string {
    return `${this.prefix}:{${this.prefix}:nodes}:card:${id}`;
  }

  /** Writes or renews this node's card. */
  async register(card: NodeCard): Promise<void> {
    await this.redis
      .multi()
      .set(this.cardKey(card.id), JSON.stringify(card), 'PX', this.ttlMs)
      .zadd(this.indexKey, Date.now() + this.ttlMs, card.id)
      .exec();
  }

  async unregister(id: string): Promise<void> {
    await this.redis.multi().del(this.cardKey(id)).zrem(this.indexKey, id).exec();
  }

  /** Every live card; expired ids are pruned from the index on the way. */
  async list(): Promise<NodeCard[]> {
    await this.redis.zremrangebyscore(this.indexKey, '-inf', Date.now() - this.ttlMs);
    const ids = await this.redis.zrange(this.indexKey, 0, -1);
    if (ids.length === 0) return [];
    const raw = await this.redis.mget(...ids.map((id) => this.cardKey(id)));
    const cards: NodeCard[] = [];
    raw.forEach((json) => {
      if (json === null) return;
      try {
        const card = parseNodeCard(JSON.parse(json));
        if (card) cards.push(card);
      } catch {
        // A corrupted card is ignored; it expires by itself.
      }
    });
    return cards;
  }
}
