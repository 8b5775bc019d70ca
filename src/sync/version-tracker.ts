/**
 * Tracks, per index/collection, the last state version this node has seen
 * without a hole. A version further ahead means a message was missed (or is
 * still on its way on another peer's socket): if the hole is still open after
 * `gapWaitMs`, the collection is reloaded from Redis.
 */
export class VersionTracker {
  private readonly known = new Map<string, number>();
  private readonly highest = new Map<string, number>();
  /** Versions received past a hole, so that filling the hole late closes it. */
  private readonly ahead = new Map<string, Set<number>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Reloads triggered by a gap, for status and metrics. */
  resyncs = 0;

  constructor(
    private readonly gapWaitMs: number,
    private readonly reload: (index: string, collection: string) => Promise<void>,
  ) {}

  private static key(index: string, collection: string): string {
    return JSON.stringify([index, collection]);
  }

  note(index: string, collection: string, version: number): void {
    const key = VersionTracker.key(index, collection);
    const known = this.known.get(key) ?? 0;
    if (version <= known) return;
    this.highest.set(key, Math.max(this.highest.get(key) ?? 0, version));
    if (version === known + 1) {
      const reached = this.advance(key, version);
      if ((this.highest.get(key) ?? 0) <= reached) this.clearTimer(key);
      return;
    }
    const ahead = this.ahead.get(key) ?? new Set<number>();
    ahead.add(version);
    this.ahead.set(key, ahead);
    if (!this.timers.has(key)) {
      const timer = setTimeout(() => {
        this.timers.delete(key);
        if ((this.known.get(key) ?? 0) >= (this.highest.get(key) ?? 0)) return;
        this.resyncs++;
        void this.reload(index, collection).catch(() => undefined);
      }, this.gapWaitMs);
      timer.unref();
      this.timers.set(key, timer);
    }
  }

  /** After a reload from Redis: the snapshot's version is known. */
  reset(index: string, collection: string, version: number): void {
    const key = VersionTracker.key(index, collection);
    this.advance(key, Math.max(this.known.get(key) ?? 0, version));
    this.clearTimer(key);
  }

  /**
   * Forgets what is known of a collection, before reloading it after its
   * state was rewritten (a reset, or Redis flushed by `admin:resetCache`,
   * which starts versions over).
   */
  forget(index: string, collection: string): void {
    const key = VersionTracker.key(index, collection);
    this.known.delete(key);
    this.highest.delete(key);
    this.ahead.delete(key);
    this.clearTimer(key);
  }

  /** Records `version` as known, then every version already received right after it. */
  private advance(key: string, version: number): number {
    let reached = version;
    const ahead = this.ahead.get(key);
    if (ahead) {
      while (ahead.delete(reached + 1)) reached++;
      for (const v of ahead) if (v <= reached) ahead.delete(v);
      if (ahead.size === 0) this.ahead.delete(key);
    }
    this.known.set(key, reached);
    return reached;
  }

  private clearTimer(key: string): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }

  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
