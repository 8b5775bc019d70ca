/**
 * A map bounded to `limit` entries that, when full, forgets the entry used
 * least recently (reading or writing an entry makes it recent). Memory a
 * flood of new keys (cards minted in Redis, peers relaying accusations)
 * could grow stays bounded, while the entries still in use (the pins of
 * live members, read on every card refresh) are the last to go; clearing
 * the whole map instead would drop them with the rest.
 */
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The value, made the most recent. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value, left where it is (a reader that must not keep old entries over new ones). */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** The entry used least recently, if any (not made recent). */
  oldest(): [K, V] | undefined {
    const first = this.entries.entries().next();
    return first.done ? undefined : first.value;
  }

  /** Entries, least recent first. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries[Symbol.iterator]();
  }
}

/** Keys seen, bounded as {@link RecentMap}: tells the first time a key shows up (to report something once). */
export class RecentKeys<K> {
  private readonly seen: RecentMap<K, true>;

  constructor(limit: number) {
    this.seen = new RecentMap(limit);
  }

  /** True the first time `key` is seen (or the first time again after it was forgotten). */
  firstTime(key: K): boolean {
    if (this.seen.get(key)) return false;
    this.seen.set(key, true);
    return true;
  }
}
