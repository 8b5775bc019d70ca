/** How long an event seen early waits for its second call. */
const PENDING_EVENT_MS = 60_000;

/**
 * Subscription events seen early (from a user notification), kept for
 * their second call (the subscription itself), in two generations: every
 * PENDING_EVENT_MS / 2 the older one is dropped, so one that never comes is
 * forgotten after a while. One timer for all (a timer per event held each
 * event's promises for a minute: measured in RSS under a burst of
 * subscriptions).
 */
export class PendingEvents<T> {
  private current = new Map<string, T>();
  private older = new Map<string, T>();
  private readonly sweeper = setInterval(() => {
    this.older = this.current;
    this.current = new Map();
  }, PENDING_EVENT_MS / 2);

  constructor() {
    this.sweeper.unref();
  }

  get(key: string): T | undefined {
    return this.current.get(key) ?? this.older.get(key);
  }

  set(key: string, event: T): void {
    this.current.set(key, event);
  }

  forget(key: string): void {
    this.current.delete(key);
    this.older.delete(key);
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
