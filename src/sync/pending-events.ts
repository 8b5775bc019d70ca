/** How long an event seen early waits for its second call once it has settled: between half of it and all of it. */
const PENDING_EVENT_MS = 60_000;

interface Entry<T> {
  event: T;
  settled: boolean;
}

/**
 * Subscription events seen early (from a user notification), kept for
 * their second call (the subscription itself), in two generations: every
 * PENDING_EVENT_MS / 2 the older one is dropped, so one that never comes is
 * forgotten after a while. One timer for all (a timer per event held each
 * event's promises for a minute: measured in RSS under a burst of
 * subscriptions). An event still under way is never dropped: Kuzzle makes
 * the second call once the first has settled, and one that found no event
 * (Redis retried for minutes meanwhile) would start it again, counting a
 * connection that may have left since, for good.
 */
export class PendingEvents<T> {
  private current = new Map<string, Entry<T>>();
  private older = new Map<string, Entry<T>>();
  private readonly sweeper = setInterval(() => this.sweep(), PENDING_EVENT_MS / 2);

  constructor() {
    this.sweeper.unref();
  }

  get(key: string): T | undefined {
    return (this.current.get(key) ?? this.older.get(key))?.event;
  }

  /** Keeps `event` until its second call, or for a while once `settles` has settled. */
  set(key: string, event: T, settles: Promise<unknown>): void {
    const entry: Entry<T> = { event, settled: false };
    this.current.set(key, entry);
    const settle = (): void => {
      entry.settled = true;
      // Kept a whole period from now, whichever generation it was in.
      if (this.older.get(key) === entry) {
        this.older.delete(key);
        if (!this.current.has(key)) this.current.set(key, entry);
      }
    };
    settles.then(settle, settle);
  }

  forget(key: string): void {
    this.current.delete(key);
    this.older.delete(key);
  }

  /** Events kept (for tests). */
  get size(): number {
    return this.current.size + this.older.size;
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Drops the older generation's settled events (run by the timer). */
  sweep(): void {
    for (const [key, entry] of this.older) {
      if (!entry.settled && !this.current.has(key)) this.current.set(key, entry);
    }
    this.older = this.current;
    this.current = new Map();
  }
}
