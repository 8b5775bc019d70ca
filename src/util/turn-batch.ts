/**
 * Gathers the items handed to it during one turn of the event loop and
 * hands them over together on the next: a burst costs one call instead of
 * one per item, while a lone item waits for nothing more than the next turn.
 * Each caller gets its own item's result; if the call throws, every caller
 * of that batch gets the error.
 */
export class TurnBatch<T, R> {
  private waiting: Array<{ item: T; resolve: (result: R) => void; reject: (error: unknown) => void }> = [];

  /** `flush` answers with one result per item, in their order. */
  constructor(private readonly flush: (items: T[]) => Promise<R[]>) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length === 1) setImmediate(() => void this.run());
    });
  }

  private async run(): Promise<void> {
    const batch = this.waiting;
    this.waiting = [];
    try {
      const results = await this.flush(batch.map(({ item }) => item));
      batch.forEach(({ resolve }, i) => resolve(results[i] as R));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }
}
