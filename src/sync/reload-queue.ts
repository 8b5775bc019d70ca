import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';

/** Collections waiting for a reload at most; past it, one full reload replaces them all. */
const MAX_PENDING = 10_000;

/**
 * Collections to reload from the shared state (peers announce the ones they
 * rewrote), reloaded one at a time: a collection named again while it waits
 * is reloaded once, and however fast `state:rewritten` messages come (a
 * flood from a peer), this node runs one reload at a time and holds a
 * bounded list.
 */
export class ReloadQueue {
  private readonly pending = new Map<string, CollectionRef>();
  private everything = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly reloadOne: (ref: CollectionRef) => Promise<void>,
    private readonly reloadAll: () => Promise<unknown>,
    private readonly log: Log,
  ) {}

  /** Queues collections and makes sure they get reloaded. */
  add(collections: readonly CollectionRef[]): void {
    for (const ref of collections) {
      if (this.everything) break;
      this.pending.set(encodeCollectionRef(ref.index, ref.collection), ref);
      if (this.pending.size > MAX_PENDING) {
        this.pending.clear();
        this.everything = true;
      }
    }
    this.start();
  }

  private start(): void {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
      // Queued after the drain found nothing left, before it was marked done.
      if (this.pending.size > 0 || this.everything) this.start();
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.everything) {
        this.everything = false;
        this.pending.clear();
        await this.reloadAll().catch((error: unknown) => this.log('error', `reloading the shared state failed: ${describeError(error)}`));
        continue;
      }
      const next = this.pending.entries().next();
      if (next.done) return;
      const [key, ref] = next.value;
      this.pending.delete(key);
      await this.reloadOne(ref).catch((error: unknown) => this.log('error', `reloading ${ref.index}/${ref.collection} failed: ${describeError(error)}`));
    }
  }
}
