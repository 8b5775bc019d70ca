/**
 * Gathers the items handed to it and hands them over together: those of
 * one turn of the event loop, and, while a call is under way, all those
 * that come meanwhile (they go in the next call, once it ends). A lone item
 * waits for nothing more than the next turn; under a burst, batches grow
 * with the time a call takes, so calls stay about one at a time. Each
 * caller gets its own item's result; if the call throws, every caller of
 * that batch gets the error.
 */
export class TurnBatch<T, R> {
  private waiting: Array<{ item: T; resolve: (result: R) => void; reject: (error: unknown) => void }> = [];
  private running = false;

  /** `flush` answers with one result per item, in their order. */
  constructor(private readonly flush: (items: T[]) => Promise<R[]>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length === 1 && !this.running) setImmediate(() => void this.run());
    });
  }

  private async run(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    this.running = true;
    try {
      const results = await this.flush(batch.map(({ item }) => item));
      batch.forEach(({ resolve }, i) => resolve(results[i] as R));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      this.running = false;
      if (this.waiting.length > 0) setImmediate(() => void this.run());
    }
  }
}
