import { clock } from './clock';
import { RecentMap } from './recent-map';

/**
 * When each key last changed live (a monotonic clock), for a catch-up that
 * reads a state older than the changes heard meanwhile: a key changed since
 * the catch-up's mark keeps what the live change made. Bounded (keys come
 * from clients): the oldest changes, long applied everywhere, go first.
 */
export class LiveChanges {
  private readonly times: RecentMap<string, number>;

  constructor(
    limit: number,
    /** A monotonic clock (ms). */
    readonly now: () => number = () => clock.now(),
  ) {
    this.times = new RecentMap(limit);
  }

  /** `key` changed live, now. */
  note(key: string): void {
    this.times.set(key, this.now());
  }

  /** Whether `key` changed live since this node remembers (without making it recent). */
  heard(key: string): boolean {
    return this.times.peek(key) !== undefined;
  }

  /** Whether `key` changed live at `mark` (a {@link now} reading) or after; read without making it recent. */
  since(key: string, mark: number): boolean {
    return (this.times.peek(key) ?? Number.NEGATIVE_INFINITY) >= mark;
  }
}
