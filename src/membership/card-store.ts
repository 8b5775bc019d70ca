import type { NodeCard } from './node-card';

/**
 * Where nodes find each other: every node keeps its card there, renewed
 * every heartbeat, and the cards of crashed nodes expire by themselves.
 * Implemented over Redis in `state/`; membership only needs this port.
 */
export interface CardStore {
  /** Writes or renews a card. */
  register(card: NodeCard): Promise<void>;
  unregister(id: string): Promise<void>;
  /** Every live card. */
  list(): Promise<NodeCard[]>;
  /**
   * Writes or renews a card and lists every live card, in one step: what
   * every node does at every tick (half as many calls as a renewal and a
   * listing, and an idle node's garbage is mostly such calls).
   */
  renew(card: NodeCard): Promise<readonly NodeCard[]>;
  /** The live card of one node, if any. */
  get(id: string): Promise<NodeCard | undefined>;
  /** When a node's card was last written or renewed (epoch ms); undefined when it has none. */
  renewedAt(id: string): Promise<number | undefined>;
  /** A number never handed out before, cluster-wide: a node's next incarnation. */
  nextIncarnation(): Promise<number>;
}
