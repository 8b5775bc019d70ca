import type { CurveKeys } from '../transport/curve-keys';
import type { CardStore } from './card-store';
import { checkCard, sealCard, type CardRefusal } from './card-seal';
import type { NodeCard } from './node-card';
import { RecentKeys, RecentMap } from '../util/recent-map';

/** Node ids whose identity keys are pinned at most. */
export const MAX_PINS = 10_000;
/**
 * A pin not read for this long is of a node that is gone (a live node's
 * card is read at every refresh of the member list, every few seconds): it
 * may make room for a new one.
 */
export const PIN_IDLE_MS = 10 * 60_000;

/** What the trusted card store reports besides the cards it hands out. */
export interface CardStoreEvents {
  /** A card was not trusted (reported once per card content). */
  refused(card: NodeCard, why: CardRefusal): void;
  /** A live card of another wire protocol, each time it is read: a node this one cannot talk to. */
  foreignProtocol(card: NodeCard): void;
  /** A card handed out: what membership and request checks rely on. */
  trusted(card: NodeCard): void;
}

/**
 * The card store membership sees: with CURVE, every card written is sealed
 * and every card read must be sealed by a holder of an accepted cluster key
 * (see card-seal.ts); others are left out and reported. A card that gives
 * a known node another identity key is left out too (the seal proves a
 * cluster key, not which node made the card), as are cards of another wire
 * protocol. Without CURVE there is no secret to seal with: cards are taken
 * as Redis holds them, identity keys pinned all the same.
 */
export class SealedCardStore implements CardStore {
  // Bounded: a Redis writer minting cards must not grow this node's memory without end.
  private readonly reported = new RecentKeys<string>(10_000);
  /** The identity key each node id was first trusted with: it never changes for a node. Never over MAX_PINS (see checkIdentity). */
  private readonly identities = new RecentMap<string, { key: string; readAt: number }>(MAX_PINS);
  /**
   * What the seal check found for each card object read: the inner store
   * hands out the same object for the same content (cards are read at every
   * tick and change only at a restart or rejoin), and this node's keys do
   * not change, so neither does the answer.
   */
  private readonly sealChecks = new WeakMap<NodeCard, CardRefusal | 'sealed'>();
  /** This node's card as last given, and sealed: it is renewed at every tick. */
  private sealed: { card: NodeCard; sealed: NodeCard } | undefined;

  constructor(
    private readonly inner: CardStore,
    private readonly protocol: number,
    private readonly keys: CurveKeys | undefined,
    private readonly events: CardStoreEvents,
    private readonly clock: () => number = Date.now,
  ) {}

  register(card: NodeCard): Promise<void> {
    return this.inner.register(this.sealedOf(card));
  }

  async renew(card: NodeCard): Promise<readonly NodeCard[]> {
    return (await this.inner.renew(this.sealedOf(card))).filter((listed) => this.trust(listed));
  }

  unregister(id: string): Promise<void> {
    return this.inner.unregister(id);
  }

  async list(): Promise<NodeCard[]> {
    return (await this.inner.list()).filter((card) => this.trust(card));
  }

  async get(id: string): Promise<NodeCard | undefined> {
    const card = await this.inner.get(id);
    return card && this.trust(card) ? card : undefined;
  }

  /** Not sealed: a Redis writer renewing a dead node's card keeps its subscriptions counted (as long as it keeps the card alive). */
  renewedAt(id: string): Promise<number | undefined> {
    return this.inner.renewedAt(id);
  }

  nextIncarnation(): Promise<number> {
    return this.inner.nextIncarnation();
  }

  /** The card as written: sealed with CURVE, once per card object (this node's own is renewed at every tick). */
  private sealedOf(card: NodeCard): NodeCard {
    if (!this.keys) return card;
    if (this.sealed?.card !== card) this.sealed = { card, sealed: sealCard(card, this.keys) };
    return this.sealed.sealed;
  }

  private trust(card: NodeCard): boolean {
    if (card.protocol !== this.protocol) {
      this.events.foreignProtocol(card);
      return false;
    }
    const why = this.checkSeal(card) ?? this.checkIdentity(card);
    if (why !== undefined) {
      if (this.once(card, why)) this.events.refused(card, why);
      return false;
    }
    this.events.trusted(card);
    return true;
  }

  private checkSeal(card: NodeCard): CardRefusal | undefined {
    if (!this.keys) return undefined;
    let found = this.sealChecks.get(card);
    if (found === undefined) {
      found = checkCard(card, this.keys) ?? 'sealed';
      this.sealChecks.set(card, found);
    }
    return found === 'sealed' ? undefined : found;
  }

  /**
   * A node's identity key is the first one trusted for its id (cards without
   * one, of older releases, pin nothing). Bounded: when {@link MAX_PINS} ids
   * are pinned, the pin read least recently makes room only if it is idle
   * (its node gone); otherwise the new id is refused, never a pin in use
   * forgotten.
   */
  private checkIdentity(card: NodeCard): CardRefusal | undefined {
    if (card.identityKey === undefined) return undefined;
    const now = this.clock();
    const pinned = this.identities.get(card.id);
    if (pinned !== undefined) {
      if (pinned.key !== card.identityKey) return 'identityChanged';
      pinned.readAt = now;
      return undefined;
    }
    if (this.identities.size >= MAX_PINS) {
      // Room is made here, never by the map itself: only an idle pin may go.
      const oldest = this.identities.oldest();
      if (oldest === undefined || now - oldest[1].readAt < PIN_IDLE_MS) return 'pinsFull';
      this.identities.delete(oldest[0]);
    }
    this.identities.set(card.id, { key: card.identityKey, readAt: now });
    return undefined;
  }

  /** True the first time this content of this card is reported for this reason. */
  private once(card: NodeCard, why: string): boolean {
    return this.reported.firstTime(JSON.stringify([why, card]));
  }
}
