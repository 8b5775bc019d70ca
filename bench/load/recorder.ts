import { now } from './clock';
import type { Collected } from './protocol';

/**
 * Counts the notifications of one tag. Before a window is armed every
 * notification counts (fan-out rounds); once armed, only those arriving
 * inside it (latency and throughput, which leave warm-up and drain out).
 */
export class Recorder {
  private count = 0;
  private latencies: number[] = [];
  private firstAt: number | undefined;
  private lastAt: number | undefined;
  private window: { from: number; to: number } | undefined;
  private waiter: { expected: number; resolve: () => void } | undefined;

  arm(from: number, to: number): void {
    this.window = { from, to };
  }

  /** Called for every notification; `sentAt` is the publisher's time, if the message carried one. */
  record(sentAt: number | undefined): void {
    const at = now();
    if (this.window && (at < this.window.from || at > this.window.to)) return;
    this.count += 1;
    this.firstAt ??= at;
    this.lastAt = at;
    if (sentAt !== undefined) this.latencies.push(at - sentAt);
    if (this.waiter && this.count >= this.waiter.expected) this.waiter.resolve();
  }

  /** Resolves when `expected` notifications are counted, or after `timeoutMs` (the caller sees the count). */
  async waitCount(expected: number, timeoutMs: number): Promise<void> {
    if (this.count >= expected) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiter = {
        expected,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    this.waiter = undefined;
  }

  /** What was counted, then starts afresh (the window stays armed). */
  take(): Collected {
    const taken = { count: this.count, latencies: this.latencies, firstAt: this.firstAt, lastAt: this.lastAt };
    this.count = 0;
    this.latencies = [];
    this.firstAt = undefined;
    this.lastAt = undefined;
    return taken;
  }
}
