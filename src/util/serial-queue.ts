import { withTimeout } from './with-timeout';

/**
 * Runs work one piece at a time, in the order handed over. A piece of a
 * kind already waiting for its turn is not queued twice: its caller shares
 * the one waiting (which would do the same work). With `holdAtMostMs`, a
 * piece that takes longer no longer holds the next ones (it keeps running).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Map<string, Promise<unknown>>();

  constructor(private readonly holdAtMostMs?: number) {}

  /** Runs `work` after the pieces handed over before it; settles as it does. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = (this.holdAtMostMs === undefined ? run : withTimeout(run, this.holdAtMostMs)).catch(() => undefined);
    return run;
  }

  /** {@link run}, unless a piece of `kind` waits for its turn already: then that one. */
  once<T>(kind: string, work: () => Promise<T>): Promise<T> {
    const waiting = this.waiting.get(kind) as Promise<T> | undefined;
    if (waiting) return waiting;
    const run = this.run(() => {
      this.waiting.delete(kind);
      return work();
    });
    this.waiting.set(kind, run);
    return run;
  }
}
