import type { NodeAddresses } from '../transport/envelope';
import type { CardStore } from './card-store';
import type { NodeCard } from './node-card';
import type { PeerLinks } from './peer-links';

/**
 * This node's card: where peers find it. It takes a new incarnation at each
 * start and rejoin (stamped on every message sent from then on) and is
 * renewed in the store before it expires; a crashed node's card expires by
 * itself.
 */
export class SelfCard {
  constructor(
    private card: NodeCard,
    private readonly cards: CardStore,
    private readonly links: PeerLinks,
  ) {}

  get current(): NodeCard {
    return this.card;
  }

  setAddresses(addresses: NodeAddresses): void {
    this.card = { ...this.card, addresses };
  }

  /** A new incarnation, never handed out before cluster-wide, registered at once. */
  async reincarnate(): Promise<void> {
    const incarnation = await this.cards.nextIncarnation();
    this.card = { ...this.card, incarnation };
    this.links.setIncarnation(incarnation);
    await this.cards.register(this.card);
  }

  /** Renews the card; resolves with every live card, this one included. */
  renew(): Promise<readonly NodeCard[]> {
    return this.cards.renew(this.card);
  }

  withdraw(): Promise<void> {
    return this.cards.unregister(this.card.id);
  }
}
