import type { Sender } from '../bus/message-spec';
import type { Log } from '../util/log';
import { RecentMap } from '../util/recent-map';
import { shareASocket, type NodeCard } from './node-card';
import type { EmitMembershipEvent, Peer, PeerRemovalReason } from './peer';
import type { PeerLinks } from './peer-links';
import { Waiters } from './waiters';
import { clock } from '../util/clock';

/** Fences kept at most (see {@link MemberTable.fences}). */
const MAX_FENCES = 1024;

/**
 * Who is a member for this node, and the rules that keep the list right:
 * - each start and each rejoin of a node has a new incarnation; removing a
 *   member fences that incarnation: it is never taken back under it, only
 *   under a newer one (after it joined again and rewrote its state);
 * - a node restarted on the sockets of a member replaces it;
 * - a sender counts as a member under its current incarnation or a newer
 *   one; a member-only request from a node whose join is in flight waits
 *   (bounded) for the join to record it.
 */
export class MemberTable {
  private readonly members = new Map<string, Peer>();
  /** Joins in flight (either direction), per peer id. */
  private readonly joining = new Map<string, number>();
  /**
   * Incarnation each removed node had: it may only come back under a newer
   * one. Kept after its card is gone from the store: a node frozen past its
   * card's life renews the same incarnation when it wakes, and taking it
   * back as it was would skip its rejoin (its subscriptions purged here).
   * Node ids are new at every start: the most recent fences are kept.
   */
  private readonly fences = new RecentMap<string, number>(MAX_FENCES);
  private readonly recorded = new Waiters();

  constructor(
    private readonly links: PeerLinks,
    private readonly emit: EmitMembershipEvent,
    private readonly options: { discoverTimeoutMs: number; log: Log },
  ) {}

  get(id: string): Peer | undefined {
    return this.members.get(id);
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  peers(): Peer[] {
    return [...this.members.values()];
  }

  ids(): string[] {
    return [...this.members.keys()];
  }

  /** Number of nodes in the cluster, this one included. */
  size(): number {
    return this.members.size + 1;
  }

  isFenced(card: Pick<NodeCard, 'id' | 'incarnation'>): boolean {
    const fence = this.fences.get(card.id);
    return fence !== undefined && card.incarnation <= fence;
  }

  startJoining(id: string): void {
    this.joining.set(id, (this.joining.get(id) ?? 0) + 1);
  }

  endJoining(id: string): void {
    const left = (this.joining.get(id) ?? 1) - 1;
    if (left > 0) this.joining.set(id, left);
    else this.joining.delete(id);
  }

  isJoining(id: string): boolean {
    return this.joining.has(id);
  }

  /**
   * Records a member (or its newer incarnation); a member sharing a socket
   * with it is replaced (see {@link shareASocket}). An older incarnation
   * than the one held is ignored: a late join answer or card read must not
   * take the member back to an owner it no longer writes under.
   */
  add(card: NodeCard): void {
    const existing = this.members.get(card.id);
    if (existing && card.incarnation < existing.card.incarnation) {
      this.options.log('debug', `${card.id}: incarnation ${card.incarnation} ignored, ${existing.card.incarnation} is recorded`);
      return;
    }
    this.links.connect(card.id, card.addresses);
    if (existing) {
      const before = existing.card;
      existing.card = card;
      existing.lastSeen = clock.now();
      if (card.incarnation > before.incarnation) {
        this.options.log('info', `${card.id} joined again (incarnation ${before.incarnation} → ${card.incarnation})`);
        this.emit('peer:reincarnated', before, card);
      }
      return;
    }
    for (const other of [...this.members.values()]) {
      if (shareASocket(other.card, card)) this.remove(other.card, 'replaced');
    }
    const returning = this.fences.has(card.id);
    const peer: Peer = { card, lastSeen: clock.now(), since: Date.now() };
    this.members.set(card.id, peer);
    this.options.log('info', `${card.id} joined (incarnation ${card.incarnation}, ${this.size()} nodes)${returning ? ', coming back' : ''}`);
    this.recorded.release(card.id);
    this.emit('peer:added', peer, { returning });
  }

  /** Forgets a member and fences its incarnation; does nothing unless `card` is the member's current incarnation. */
  remove(card: NodeCard, reason: PeerRemovalReason): void {
    const current = this.members.get(card.id);
    if (!current || current.card.incarnation !== card.incarnation) return;
    this.members.delete(card.id);
    this.fences.set(card.id, Math.max(this.fences.get(card.id) ?? 0, card.incarnation));
    this.links.disconnect(card.id);
    const age = Math.round(clock.now() - current.lastSeen);
    this.options.log(reason === 'left' ? 'info' : 'warn', `${card.id} removed (${reason}, last heard ${age} ms ago, ${this.size()} nodes)`);
    this.emit('peer:removed', current.card, reason);
  }

  /**
   * A node announced its leave, under `sender`'s incarnation: it goes
   * whichever of its incarnations is recorded, as long as none newer (a
   * node leaving while it joined again under a new one sends its leave
   * under the new one, which peers may not have recorded yet), and that
   * incarnation is fenced, so that a join of it still under way here is
   * not completed after the leave.
   */
  left(sender: Sender): void {
    this.fences.set(sender.id, Math.max(this.fences.get(sender.id) ?? 0, sender.incarnation));
    const peer = this.members.get(sender.id);
    if (peer && peer.card.incarnation <= sender.incarnation) this.remove(peer.card, 'left');
  }

  /**
   * Whether a sender counts as a member: broadcasts are admitted from
   * members (not older incarnations) and from nodes being joined; a
   * member-only request from a node being joined waits (bounded) until the
   * join records it.
   */
  admits(sender: Sender, kind: 'broadcast' | 'request'): boolean | Promise<boolean> {
    const peer = this.members.get(sender.id);
    if (peer) return sender.incarnation >= peer.card.incarnation;
    // An evicted incarnation stays out while a join with its node is under
    // way (this node accusing it, or it joining under a newer one).
    if (!this.joining.has(sender.id) || this.isFenced(sender)) return false;
    if (kind === 'broadcast') return true;
    return this.recorded.wait(sender.id, this.options.discoverTimeoutMs, 'join not completed with').then(
      () => this.admits(sender, kind) === true,
      () => false,
    );
  }
}
