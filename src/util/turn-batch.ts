/** How items are told apart, and when a call under way stops holding the others back. */
export interface TurnBatchOptions<T> {
  /** Items of one key go out in the order handed over, one call at a time (default: one key for all). */
  keyOf?: (item: T) => string;
  /**
   * A call under way this long (ms) no longer holds back the items of other
   * keys: they go out in a call of their own (default: it always does).
   */
  stuckAfterMs?: number;
}

interface Waiting<T, R> {
  item: T;
  key: string;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the items handed to it and hands them over together: those of
 * one turn of the event loop, and, while a call is under way, all those
 * that come meanwhile (they go in the next call, once it ends). A lone item
 * waits for nothing more than the next turn; under a burst, batches grow
 * with the time a call takes, so calls stay about one at a time. Each
 * caller gets its own item's result, as soon as it settles; if the call
 * throws, every caller of that batch gets the error.
 *
 * With keys and `stuckAfterMs`, a call that outlasts it (a Redis Cluster
 * master failing over, for one collection's items) holds back only the
 * items of its keys not settled yet: the others go in calls of their own
 * meanwhile.
 */
export class TurnBatch<T, R> {
  private waiting: Array<Waiting<T, R>> = [];
  /** Keys of the items of the calls under way. */
  private readonly busy = new Set<string>();
  /** Calls under way for less than `stuckAfterMs`: while there is one, the next call waits for it. */
  private holding = 0;
  private scheduled = false;
  private readonly keyOf: (item: T) => string;

  /** `flush` answers with one result per item, in their order, each settling on its own. */
  constructor(
    private readonly flush: (items: T[]) => Array<Promise<R>>,
    private readonly options: TurnBatchOptions<T> = {},
  ) {
    this.keyOf = options.keyOf ?? (() => '');
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, key: this.keyOf(item), resolve, reject });
      this.schedule();
    });
  }

  /** A call at the next turn, unless one is due already or one under way holds the items back. */
  private schedule(): void {
    if (this.scheduled || this.holding > 0 || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.holding > 0) return;
    const batch: Array<Waiting<T, R>> = [];
    const rest: Array<Waiting<T, R>> = [];
    // Items of a key under way wait until its items there are settled (which schedules the next call).
    for (const entry of this.waiting) (this.busy.has(entry.key) ? rest : batch).push(entry);
    if (batch.length === 0) return;
    this.waiting = rest;
    for (const { key } of batch) this.busy.add(key);
    this.holding++;
    let holds = true;
    const release = (): void => {
      if (!holds) return;
      holds = false;
      this.holding--;
    };
    const stuck =
      this.options.stuckAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            release();
            this.schedule();
          }, this.options.stuckAfterMs);
    let results: Array<Promise<R>>;
    try {
      results = this.flush(batch.map(({ item }) => item));
    } catch (error) {
      results = batch.map(() => Promise.reject(error));
    }
    const settled = batch.map(({ resolve, reject }, i) => (results[i] ?? Promise.reject(new Error('no result for this item'))).then(resolve, reject));
    // A key is free again once its own items are settled.
    const byKey = new Map<string, Array<Promise<void>>>();
    batch.forEach(({ key }, i) => {
      const list = byKey.get(key);
      if (list) list.push(settled[i] as Promise<void>);
      else byKey.set(key, [settled[i] as Promise<void>]);
    });
    for (const [key, list] of byKey) {
      void Promise.all(list).then(() => {
        this.busy.delete(key);
        this.schedule();
      });
    }
    await Promise.all(settled);
    if (stuck !== undefined) clearTimeout(stuck);
    release();
    this.schedule();
  }
}
