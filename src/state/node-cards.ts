import type { Cluster, Redis } from 'ioredis';
import type { CardStore } from '../membership/card-store';
import { parseNodeCard, type NodeCard } from '../membership/node-card';
import { execAll } from './exec';
import { asStrings } from './replies';
import type { StateKeys } from './keys';
import { defineScripts, runScript } from './scripts';
import { RecentMap } from '../util/recent-map';

/** Parsed cards kept (see RedisCardStore.parsed): far more than a cluster has nodes. */
const MAX_PARSED_CARDS = 1024;

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
  /**
   * Cards already parsed, by the JSON Redis holds. Every node reads every
   * card at each tick (twice a heartbeat), and a card changes only when
   * its node starts or joins again: parsing and checking it each time made
   * most of an idle node's garbage, which kept V8 from shrinking its heap
   * after a burst. The same JSON gives the same card object, which callers
   * never modify. Bounded: a Redis writer planting cards must not grow it
   * without end, nor push out the cards of live nodes, read at every tick.
   */
  private readonly parsed = new RecentMap<string, NodeCard>(MAX_PARSED_CARDS);
  /** This node's card as last written, and its JSON (renewed at each tick, unchanged between incarnations). */
  private written: { card: NodeCard; json: string } | undefined;
  /**
   * The live cards the last renewal listed, and their fingerprint: a
   * renewal finding the same cards gets the fingerprint back, not the
   * cards again (nor parses them). Callers never modify the list.
   */
  private renewed: { fingerprint: string; cards: readonly NodeCard[] } | undefined;

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
    // The alive key's value only tells renewals apart (see renewedAt): never compared with another clock.
    await runScript(this.redis, 'renewCard', this.writeKeys(card), [card.id, this.jsonOf(card), Date.now(), this.ttlMs]);
  }

  async renew(card: NodeCard): Promise<readonly NodeCard[]> {
    const args = [card.id, this.jsonOf(card), Date.now(), this.ttlMs, this.keys.cardAlive(''), this.protocol, this.renewed?.fingerprint ?? ''];
    const [fingerprint, ...jsons] = asStrings(await runScript(this.redis, 'renewAndListCards', this.writeKeys(card), args), 'renewAndListCards');
    if (fingerprint === undefined) throw new Error('renewAndListCards answered with no fingerprint');
    if (jsons.length === 0 && this.renewed?.fingerprint === fingerprint) return this.renewed.cards;
    this.renewed = { fingerprint, cards: this.parseAll(jsons) };
    return this.renewed.cards;
  }

  async unregister(id: string): Promise<void> {
    await execAll(this.redis.multi().hdel(this.keys.cards, id).del(this.keys.cardAlive(id)).zrem(this.keys.cardExpiry, id));
  }

  async list(): Promise<NodeCard[]> {
    return this.parseAll(asStrings(await runScript(this.redis, 'listCards', [this.keys.cards, this.keys.cardExpiry], this.fateArgs()), 'listCards'));
  }

  async get(id: string): Promise<NodeCard | undefined> {
    const json = await runScript(this.redis, 'getCard', [this.keys.cards, this.keys.cardExpiry], [...this.fateArgs(), id]);
    return typeof json === 'string' ? this.parse(json) : undefined;
  }

  /** The keys a card's writing touches (lua/includes/writeCard). */
  private writeKeys(card: NodeCard): string[] {
    return [this.keys.cards, this.keys.cardAlive(card.id), this.keys.cardExpiry];
  }

  /** A card's JSON, made once per card object (this node's own is written at every tick and changes only between incarnations). */
  private jsonOf(card: NodeCard): string {
    if (this.written?.card !== card) this.written = { card, json: JSON.stringify(card) };
    return this.written.json;
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

  private parseAll(jsons: string[]): NodeCard[] {
    return jsons.map((json) => this.parse(json)).filter((card): card is NodeCard => card !== undefined);
  }

  private parse(json: string): NodeCard | undefined {
    const known = this.parsed.get(json);
    if (known) return known;
    let card: NodeCard | undefined;
    try {
      card = parseNodeCard(JSON.parse(json));
    } catch {
      return undefined; // a corrupted card is skipped; it expires by itself
    }
    if (card) this.parsed.set(json, card);
    return card;
  }
}
