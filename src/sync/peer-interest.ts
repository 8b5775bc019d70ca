import type { Sender } from '../bus/message-spec';
import { ownerOf } from '../membership/node-card';
import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';

/** What this node knows of one peer incarnation's collections with subscribers. */
interface PeerView {
  collections: Set<string>;
  /** Whether the peer's whole list came back: until then it counts as listening to everything. */
  known: boolean;
}

/**
 * Which peers hold subscribers in which collections, so that a change is
 * sent only to those that listen. Wrong only on the safe side: a peer
 * incarnation whose list has not come back yet counts as listening to
 * everything, and a list that comes back late is merged with what the
 * peer announced meanwhile, never replacing it (a collection it left since
 * only costs messages it drops, until it announces the removal).
 */
export class PeerInterest {
  private readonly views = new Map<string, PeerView>();

  /** The peer announced its first subscriber in a collection. */
  add(peer: Sender, ref: CollectionRef): void {
    this.view(peer).collections.add(encodeCollectionRef(ref.index, ref.collection));
  }

  /** The peer's last subscriber in a collection left. */
  remove(peer: Sender, ref: CollectionRef): void {
    this.view(peer).collections.delete(encodeCollectionRef(ref.index, ref.collection));
  }

  /** A page of the peer's list, as it answered it; `last`: the whole list is in. */
  merge(peer: Sender, refs: readonly CollectionRef[], last = true): void {
    const view = this.view(peer);
    for (const ref of refs) view.collections.add(encodeCollectionRef(ref.index, ref.collection));
    if (last) view.known = true;
  }

  /** The peers among `peers` whose whole list this node still lacks. */
  unknown(peers: readonly Sender[]): Sender[] {
    return peers.filter((peer) => this.views.get(ownerOf(peer))?.known !== true);
  }

  /** The peers among `peers` that may listen to the collection. */
  listening(peers: readonly Sender[], ref: CollectionRef): Sender[] {
    const key = encodeCollectionRef(ref.index, ref.collection);
    return peers.filter((peer) => {
      const view = this.views.get(ownerOf(peer));
      return view?.known !== true || view.collections.has(key);
    });
  }

  /** Forgets every peer incarnation not among `peers` (gone, or started again). */
  keepOnly(peers: readonly Sender[]): void {
    const live = new Set(peers.map(ownerOf));
    for (const key of this.views.keys()) if (!live.has(key)) this.views.delete(key);
  }

  private view(peer: Sender): PeerView {
    const key = ownerOf(peer);
    let view = this.views.get(key);
    if (!view) {
      view = { collections: new Set(), known: false };
      this.views.set(key, view);
    }
    return view;
  }
}
