import type { Sender } from '../bus/message-spec';
import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';

/** What this node knows of one peer's collections with subscribers. */
interface PeerView {
  /** The peer's incarnation this view is of. */
  incarnation: number;
  /**
   * This node's own incarnation (its owner) when the view was started: a
   * peer that evicted this node sent it nothing until it joined again under
   * a new one (see {@link PeerInterest}).
   */
  learntAs: string;
  collections: Set<string>;
  /** Whether the peer's whole list came back: until then it counts as listening to everything. */
  known: boolean;
}

/**
 * Which peers hold subscribers in which collections, so that a change is
 * sent only to those that listen. Wrong only on the safe side: a peer
 * whose list has not come back yet counts as listening to everything, and
 * a list that comes back late is merged with what the peer announced
 * meanwhile, never replacing it (a collection it left since only costs
 * messages it drops, until it announces the removal).
 *
 * A view holds while both ends keep their incarnations. One of a peer's
 * older incarnation is dropped when a newer one speaks (its announcements
 * start a new view, which counts as listening everywhere until its list is
 * in) or is the member's. One learnt under this node's older incarnation
 * is dropped too: a peer that evicted this node (while this node did not
 * evict it) announced its new collections to its members only, and takes
 * this node back only under a new incarnation.
 */
export class PeerInterest {
  /** By peer id: a peer's incarnations share one view, the newest's. */
  private readonly views = new Map<string, PeerView>();

  /** @param self This node's current owner (id and incarnation). */
  constructor(private readonly self: () => string) {}

  /** The peer announced its first subscriber in a collection. */
  add(peer: Sender, ref: CollectionRef): void {
    this.writable(peer)?.collections.add(encodeCollectionRef(ref.index, ref.collection));
  }

  /** The peer's last subscriber in a collection left. */
  remove(peer: Sender, ref: CollectionRef): void {
    this.writable(peer)?.collections.delete(encodeCollectionRef(ref.index, ref.collection));
  }

  /**
   * A page of the peer's list, as it answered it to this node's `askedAs`
   * incarnation; `last`: the whole list is in. Dropped when this node joined
   * again since it asked: the peer may have evicted it after answering.
   * @returns whether the page was taken.
   */
  merge(peer: Sender, refs: readonly CollectionRef[], last: boolean, askedAs: string): boolean {
    if (askedAs !== this.self()) return false;
    const view = this.writable(peer);
    if (!view) return false;
    for (const ref of refs) view.collections.add(encodeCollectionRef(ref.index, ref.collection));
    if (last) view.known = true;
    return true;
  }

  /** The peers among `peers` whose whole list this node still lacks. */
  unknown(peers: readonly Sender[]): Sender[] {
    const self = this.self();
    return peers.filter((peer) => this.complete(peer, self) === undefined);
  }

  /** The peers among `peers` that may listen to the collection. */
  listening(peers: readonly Sender[], ref: CollectionRef): Sender[] {
    const key = encodeCollectionRef(ref.index, ref.collection);
    const self = this.self();
    return peers.filter((peer) => this.complete(peer, self)?.collections.has(key) ?? true);
  }

  /** Forgets every peer not among `peers` (gone). */
  keepOnly(peers: readonly Sender[]): void {
    const live = new Set(peers.map((peer) => peer.id));
    for (const id of this.views.keys()) if (!live.has(id)) this.views.delete(id);
  }

  /** Peers this node keeps a view of. */
  get size(): number {
    return this.views.size;
  }

  /** The peer's view, if whole and of this incarnation of both ends. */
  private complete(peer: Sender, self: string): PeerView | undefined {
    const view = this.views.get(peer.id);
    return view?.known === true && view.incarnation === peer.incarnation && view.learntAs === self ? view : undefined;
  }

  /** The view a message of `peer` updates: a new one for a newer incarnation of either end; none for an older incarnation of the peer's (a late message). */
  private writable(peer: Sender): PeerView | undefined {
    const self = this.self();
    let view = this.views.get(peer.id);
    if (view && view.incarnation > peer.incarnation) return undefined;
    if (!view || view.incarnation < peer.incarnation || view.learntAs !== self) {
      view = { incarnation: peer.incarnation, learntAs: self, collections: new Set(), known: false };
      this.views.set(peer.id, view);
    }
    return view;
  }
}
