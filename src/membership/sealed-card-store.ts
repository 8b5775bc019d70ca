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
 * (see card-seal.ts); others are left out and reported. A card that gives
 * a known node another identity key is left out too (the seal proves a
 * cluster key, not which node made the card), as are cards of another wire
 * protocol. Without CURVE there is no secret to seal with: cards are taken
 * as Redis holds them, identity keys pinned all the same.
 */
export class SealedCardStore implements CardStore {
  private readonly reported = new Set<string>();
  /** The identity key each node id was first trusted with: it never changes for a node. */
  private readonly identities = new Map<string, string>();

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

  /** Not sealed: a Redis writer renewing a dead node's card keeps its subscriptions counted (as long as it keeps the card alive). */
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
    const why = (this.keys ? checkCard(card, this.keys) : undefined) ?? this.checkIdentity(card);
    if (why !== undefined) {
      if (this.once(card, why)) this.events.refused(card, why);
      return false;
    }
    this.events.trusted(card);
    return true;
  }

  /** A node's identity key is the first one trusted for its id (cards without one, of older releases, pin nothing). */
  private checkIdentity(card: NodeCard): CardRefusal | undefined {
    if (card.identityKey === undefined) return undefined;
    const pinned = this.identities.get(card.id);
    if (pinned === undefined) {
      if (this.identities.size >= 10_000) this.identities.clear();
      this.identities.set(card.id, card.identityKey);
      return undefined;
    }
    return pinned === card.identityKey ? undefined : 'identityChanged';
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
