/**
 * Marks behind what this node addressed to one peer. A peer sees that an
 * addressed message was lost (past a high-water mark, or given up half
 * reassembled) only when a later one reaches it, and a collection that
 * every peer listens to again goes back to broadcasts: that later one may
 * never come. So, after addressing a peer, this node sends it a mark (a
 * message of nothing but its number, read by the peer's transport alone)
 * at each of the next ticks: a loss is seen within a tick or two.
 */

/** The envelope type of a mark; never handed to the layers above. */
export const MARK_TYPE = 'transport:mark';
/** Marks sent after the last addressed message (a burst that drops one may drop the next). */
const MARKS_AFTER_ADDRESSED = 2;
/** How often marks go out. */
export const MARK_INTERVAL_MS = 500;

/** The peers still owed marks, and how many. */
export class AddressedMarks {
  private readonly owed = new Map<string, number>();

  /** Messages were just addressed to `peerId`. */
  addressed(peerId: string): void {
    this.owed.set(peerId, MARKS_AFTER_ADDRESSED);
  }

  forget(peerId: string): void {
    this.owed.delete(peerId);
  }

  /** The peers to send a mark to now; each is owed one fewer. Nothing allocated when none is owed. */
  due(): readonly string[] {
    if (this.owed.size === 0) return [];
    const due = [...this.owed.keys()];
    for (const peerId of due) {
      const left = (this.owed.get(peerId) ?? 1) - 1;
      if (left > 0) this.owed.set(peerId, left);
      else this.owed.delete(peerId);
    }
    return due;
  }
}
