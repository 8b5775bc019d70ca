import type { CurveKeys } from '../transport/curve-keys';
import type { CardStore } from './card-store';
import { checkCard, sealCard, type CardRefusal } from './card-seal';
import type { NodeCard } from './node-card';

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
 * (see card-seal.ts); others are left out and reported. Cards of another
 * wire protocol are left out too, and reported. Without CURVE there is no
 * secret to seal with: cards are taken as Redis holds them.
 */
export class SealedCardStore implements CardStore {
  private readonly reported = new Set<string>();

  constructor(
    private readonly inner: CardStore,
    private readonly protocol: number,
    private readonly keys: CurveKeys | undefined,
    private readonly events: CardStoreEvents,
  ) {}

  register(card: NodeCard): Promise<void> {
    return this.inner.register(this.keys ? sealCard(card, this.keys) : card);
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

  /** Not sealed: a Redis writer could only keep a dead node's subscriptions counted longer (until the anti-entropy sweep). */
  renewedAt(id: string): Promise<number | undefined> {
    return this.inner.renewedAt(id);
  }

  nextIncarnation(): Promise<number> {
    return this.inner.nextIncarnation();
  }

  private trust(card: NodeCard): boolean {
    if (card.protocol !== this.protocol) {
      this.events.foreignProtocol(card);
      return false;
    }
    const why = this.keys ? checkCard(card, this.keys) : undefined;
    if (why !== undefined) {
      if (this.once(card, why)) this.events.refused(card, why);
      return false;
    }
    this.events.trusted(card);
    return true;
  }

  /** True the first time this content of this card is reported for this reason. */
  private once(card: NodeCard, why: string): boolean {
    const key = JSON.stringify([why, card]);
    if (this.reported.has(key)) return false;
    // Bounded: a Redis writer minting cards must not grow this node's memory without end.
    if (this.reported.size >= 10_000) this.reported.clear();
    this.reported.add(key);
    return true;
  }
}
