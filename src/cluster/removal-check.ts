import type { CardStore } from '../membership/card-store';
import type { NodeCard } from '../membership/node-card';
import { delay } from '../util/delay';

/** How a removed peer's subscriptions are to be handled. */
export type RemovedPeerFate =
  /** Its process is gone (card expired or no longer renewed): purge its subscriptions. */
  | 'purge'
  /** It joined again under a newer incarnation: it rewrites its own state. */
  | 'rejoined'
  /** It keeps renewing its card: alive, only unheard here; leave its state to it (and to the anti-entropy sweep). */
  | 'alive';

/**
 * Decides whether the subscriptions of a peer this node stopped hearing may
 * be purged. A node that renews its card is alive, whatever this node
 * heard or not (it may be this node that was too busy to read, or a member
 * that lies): purging it would remove rooms its clients still listen to
 * until it rewrites them. Every node renews its card every half heartbeat:
 * a card whose expiry did not move for two heartbeats belongs to a dead or
 * frozen process. Only the expiry's own moves are compared, never this
 * node's clock with the peer's. Waits at most `cardTtl` for the card to tell.
 */
export async function fateOfRemovedPeer(card: NodeCard, cards: CardStore, timers: { heartbeat: number; cardTtl: number }): Promise<RemovedPeerFate> {
  const deadline = Date.now() + timers.cardTtl;
  let last: number | undefined;
  const stillSince = Date.now();
  for (;;) {
    const current = await cards.get(card.id);
    if (!current) return 'purge';
    if (current.incarnation > card.incarnation) return 'rejoined';
    const renewedAt = await cards.renewedAt(card.id);
    if (renewedAt === undefined) return 'purge';
    if (last !== undefined && renewedAt !== last) return 'alive';
    if (last === undefined) last = renewedAt;
    if (Date.now() - stillSince > 2 * timers.heartbeat) return 'purge';
    if (Date.now() >= deadline) return 'alive';
    await delay(Math.max(10, Math.floor(timers.heartbeat / 4)));
  }
}
