/**
 * A peer's changes waiting here (being matched, or queued behind earlier
 * changes of their collection) at most: with this many, this node reads
 * no further broadcast of that peer until half of them are done. The peer's
 * next messages then wait in this node's socket, then in the peer's own
 * send queue, instead of in this node's memory: a member sending faster
 * than this node can match (a flood, or a bulk import while Redis is slow)
 * costs it a bounded amount of memory, whatever it sends in total.
 */
export const MAX_WAITING_CHANGES_PER_PEER = 64;
const READ_AGAIN_AT = MAX_WAITING_CHANGES_PER_PEER / 2;

/** What {@link PeerBacklog} shows in status and metrics. */
export interface BacklogStats {
  /** Peers' changes waiting here now. */
  waiting: number;
  /** Times this node stopped reading a peer's broadcasts, its changes waiting here at the bound. */
  holds: number;
  /** Peers whose broadcasts this node does not read now. */
  holding: string[];
}

/** Stops reading a peer's broadcasts until `until` settles (see Transport.holdBroadcasts). */
export type HoldBroadcasts = (peerId: string, until: Promise<void>) => void;

/** Counts each peer's waiting changes and holds its broadcasts at the bound. */
export class PeerBacklog {
  private readonly waitingBy = new Map<string, number>();
  /** Ends the hold of a peer whose broadcasts are held. */
  private readonly releases = new Map<string, () => void>();
  private waiting = 0;
  private holds = 0;

  constructor(private readonly hold: HoldBroadcasts) {}

  /** Counts `work`, a change of `peerId`, until it settles. */
  track(peerId: string, work: Promise<unknown>): void {
    const count = (this.waitingBy.get(peerId) ?? 0) + 1;
    this.waitingBy.set(peerId, count);
    this.waiting++;
    const done = (): void => this.settled(peerId);
    work.then(done, done);
    if (count < MAX_WAITING_CHANGES_PER_PEER || this.releases.has(peerId)) return;
    this.holds++;
    this.hold(peerId, new Promise<void>((resolve) => this.releases.set(peerId, resolve)));
  }

  /** Reads every peer again (this node stops: nothing it held must wait for matching that will not come). */
  releaseAll(): void {
    for (const release of this.releases.values()) release();
    this.releases.clear();
  }

  stats(): BacklogStats {
    return { waiting: this.waiting, holds: this.holds, holding: [...this.releases.keys()] };
  }

  private settled(peerId: string): void {
    this.waiting--;
    const count = (this.waitingBy.get(peerId) ?? 1) - 1;
    if (count > 0) this.waitingBy.set(peerId, count);
    else this.waitingBy.delete(peerId);
    if (count > READ_AGAIN_AT) return;
    const release = this.releases.get(peerId);
    if (!release) return;
    this.releases.delete(peerId);
    release();
  }
}
