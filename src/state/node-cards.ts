import type { Cluster, Redis } from 'ioredis';
import type { CardStore } from '../membership/card-store';
import { parseNodeCard, type NodeCard } from '../membership/node-card';
import { execAll } from './exec';
import { asStrings } from './replies';
import type { StateKeys } from './keys';
import { defineScripts, runScript } from './scripts';

/**
 * {@link CardStore} over Redis, in the `{<prefix>:nodes}` slot: cards in one
 * hash, and per card an alive key that each renewal sets with a time to
 * live of `ttlMs`. Redis expires it on its own clock: whether a node is
 * alive never depends on the clocks of the nodes, which may disagree. A
 * card without its alive key is dead and pruned on the way. Each card's
 * expiry on its writer's clock also goes in a sorted set, which nodes of
 * earlier wire protocols read instead: their cards are judged by it (so
 * that a node sees them and refuses to start beside them), and they see
 * this node's.
 */
export class RedisCardStore implements CardStore {
  private lastIncarnation = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: StateKeys,
    private readonly ttlMs: number,
    /** This node's wire protocol: cards of others are judged by their own (earlier) rule. */
    private readonly protocol: number,
  ) {
    defineScripts(redis);
  }

  async register(card: NodeCard): Promise<void> {
    const now = Date.now();
    await execAll(
      this.redis
        .multi()
        .hset(this.keys.cards, card.id, JSON.stringify(card))
        // The value only tells renewals apart (see renewedAt): never compared with another clock.
        .set(this.keys.cardAlive(card.id), String(now), 'PX', this.ttlMs)
        .zadd(this.keys.cardExpiry, now + this.ttlMs, card.id),
    );
  }

  async unregister(id: string): Promise<void> {
    await execAll(this.redis.multi().hdel(this.keys.cards, id).del(this.keys.cardAlive(id)).zrem(this.keys.cardExpiry, id));
  }

  async list(): Promise<NodeCard[]> {
    const reply = asStrings(await runScript(this.redis, 'listCards', [this.keys.cards, this.keys.cardExpiry], this.fateArgs()), 'listCards');
    return reply.map((json) => this.parse(json)).filter((card): card is NodeCard => card !== undefined);
  }

  async get(id: string): Promise<NodeCard | undefined> {
    const json = await runScript(this.redis, 'getCard', [this.keys.cards, this.keys.cardExpiry], [...this.fateArgs(), id]);
    return typeof json === 'string' ? this.parse(json) : undefined;
  }

  /** What lua/includes/cardFate needs besides the keys: the alive keys' prefix, the reader's clock and protocol. */
  private fateArgs(): Array<string | number> {
    return [this.keys.cardAlive(''), Date.now(), this.protocol];
  }

  async renewedAt(id: string): Promise<number | undefined> {
    const stamp = await this.redis.get(this.keys.cardAlive(id));
    return stamp === null ? undefined : Number(stamp);
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
