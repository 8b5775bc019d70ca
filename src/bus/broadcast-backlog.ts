/**
 * A sender's broadcasts still being handled here, at most (a change being
 * matched or queued behind earlier changes of its collection, a user
 * notification being delivered, an application's `app.cluster` listeners
 * running): with this many, this node reads no further broadcast of that
 * sender until half of them are done. Its next messages then wait in this
 * node's socket, then in the sender's own send queue, instead of in this
 * node's memory: a member sending faster than this node handles (a flood,
 * or a bulk import while Redis is slow) costs it a bounded amount of
 * memory, whatever it sends in total. The broadcasts' counterpart of
 * MAX_REQUESTS_IN_FLIGHT_PER_SENDER.
 */
export const MAX_BROADCASTS_IN_HAND_PER_SENDER = 64;
const READ_AGAIN_AT = MAX_BROADCASTS_IN_HAND_PER_SENDER / 2;
/**
 * How long a hold lasts at most: a handling that never ends (a Redis call
 * that never answers) must not leave a sender unread, its membership and
 * Kuzzle-wide messages with its changes. The sender is then read again and
 * what it had in hand counts as overdue instead (it goes on running, and
 * holds memory: 64 more per sender and hold period while it lasts).
 */
export const MAX_HOLD_MS = 30_000;

/** What {@link BroadcastBacklog} shows in status and metrics. */
export interface BacklogStats {
  /** Peers' broadcasts being handled here now. */
  inHand: number;
  /** Times this node stopped reading a peer's broadcasts, the bound of them in hand. */
  holds: number;
  /** Peers whose broadcasts this node does not read now. */
  holding: string[];
  /** The most broadcasts of one peer in hand at once so far. */
  peak: number;
  /** Holds ended by {@link MAX_HOLD_MS} rather than by the handlings. */
  holdsTimedOut: number;
  /** Handlings of those holds still under way (no longer counted in `inHand`). */
  overdue: number;
}

/** Stops reading a peer's broadcasts until `until` settles (see Transport.holdBroadcasts). */
export type HoldBroadcasts = (peerId: string, until: Promise<void>) => void;

/** One sender's broadcasts in hand; `round` changes when a timed-out hold writes them off. */
interface InHand {
  count: number;
  round: number;
}

/** Counts each sender's broadcasts in hand and holds its next ones at the bound. */
export class BroadcastBacklog {
  private readonly inHandBy = new Map<string, InHand>();
  /** Ends the hold of a sender whose broadcasts are held, and its timer. */
  private readonly releases = new Map<string, { release: () => void; timer: NodeJS.Timeout }>();
  private inHand = 0;
  private holds = 0;
  private peak = 0;
  private holdsTimedOut = 0;
  private overdue = 0;

  constructor(
    private readonly hold: HoldBroadcasts,
    private readonly log: (message: string) => void,
    private readonly holdAtMostMs = MAX_HOLD_MS,
  ) {}

  /** Counts `handling`, a broadcast of `senderId`, until it settles. */
  track(senderId: string, handling: Promise<unknown>): void {
    const entry = this.inHandBy.get(senderId) ?? { count: 0, round: 0 };
    this.inHandBy.set(senderId, entry);
    entry.count++;
    this.inHand++;
    this.peak = Math.max(this.peak, entry.count);
    const round = entry.round;
    const done = (): void => this.settled(senderId, entry, round);
    handling.then(done, done);
    if (entry.count < MAX_BROADCASTS_IN_HAND_PER_SENDER || this.releases.has(senderId)) return;
    this.holds++;
    const timer = setTimeout(() => this.timedOut(senderId, entry), this.holdAtMostMs);
    timer.unref();
    this.hold(senderId, new Promise<void>((release) => this.releases.set(senderId, { release, timer })));
  }

  stats(): BacklogStats {
    return { inHand: this.inHand, holds: this.holds, holding: [...this.releases.keys()], peak: this.peak, holdsTimedOut: this.holdsTimedOut, overdue: this.overdue };
  }

  /** Ends every hold and its timer (the node stops: its transport closes). */
  stop(): void {
    for (const senderId of [...this.releases.keys()]) this.release(senderId);
  }

  private settled(senderId: string, entry: InHand, round: number): void {
    // Written off by a timed-out hold: counted as overdue since.
    if (entry.round !== round) {
      this.overdue--;
      return;
    }
    this.inHand--;
    entry.count--;
    if (entry.count === 0 && this.inHandBy.get(senderId) === entry) this.inHandBy.delete(senderId);
    if (entry.count <= READ_AGAIN_AT) this.release(senderId);
  }

  private timedOut(senderId: string, entry: InHand): void {
    if (!this.releases.has(senderId)) return;
    this.holdsTimedOut++;
    this.log(`${entry.count} broadcasts of ${senderId} still being handled after ${this.holdAtMostMs} ms: reading its next ones again`);
    this.inHand -= entry.count;
    this.overdue += entry.count;
    entry.count = 0;
    entry.round++;
    this.inHandBy.delete(senderId);
    this.release(senderId);
  }

  private release(senderId: string): void {
    const held = this.releases.get(senderId);
    if (!held) return;
    this.releases.delete(senderId);
    clearTimeout(held.timer);
    held.release();
  }
}
