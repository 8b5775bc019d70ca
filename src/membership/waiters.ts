import { ClusterError } from '../util/cluster-error';

/**
 * Promises waiting for something to happen to a node (first message heard,
 * membership recorded), each bounded by its own timeout.
 */
export class Waiters {
  private readonly byId = new Map<string, Set<() => void>>();

  /** Resolves at the next {@link release} of `id`, or rejects after `timeoutMs` with `what` in the message. */
  wait(id: string, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.forget(id, done);
        reject(new ClusterError('KPC_JOIN_TIMEOUT', `${what} ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      const set = this.byId.get(id) ?? new Set();
      set.add(done);
      this.byId.set(id, set);
    });
  }

  release(id: string): void {
    const set = this.byId.get(id);
    if (!set) return;
    this.byId.delete(id);
    for (const done of set) done();
  }

  private forget(id: string, done: () => void): void {
    const set = this.byId.get(id);
    set?.delete(done);
    if (set?.size === 0) this.byId.delete(id);
  }
}
