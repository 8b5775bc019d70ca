/**
 * Many readers or one writer, writers first. Subscriptions and
 * unsubscriptions of this node are readers (they only add or remove their
 * own subscriber); rewriting this node's whole contribution is a writer,
 * which must not see local rooms and the shared state move under it.
 * Whoever releases the lock hands it over: a woken waiter already holds it.
 */
export class ReadWriteLock {
  private readers = 0;
  private writing = false;
  private readonly waitingWriters: Array<() => void> = [];
  private readonly waitingReaders: Array<() => void> = [];

  async read<T>(work: () => Promise<T>): Promise<T> {
    if (this.writing || this.waitingWriters.length > 0) await new Promise<void>((resolve) => this.waitingReaders.push(resolve));
    else this.readers++;
    try {
      return await work();
    } finally {
      this.readers--;
      this.handOver();
    }
  }

  async write<T>(work: () => Promise<T>): Promise<T> {
    if (this.writing || this.readers > 0) await new Promise<void>((resolve) => this.waitingWriters.push(resolve));
    else this.writing = true;
    try {
      return await work();
    } finally {
      this.writing = false;
      this.handOver();
    }
  }

  private handOver(): void {
    if (this.writing) return;
    const writer = this.waitingWriters[0];
    if (writer) {
      if (this.readers > 0) return;
      this.waitingWriters.shift();
      this.writing = true;
      writer();
      return;
    }
    const readers = this.waitingReaders.splice(0);
    this.readers += readers.length;
    for (const resolve of readers) resolve();
  }
}
