import { v4 as uuidv4 } from 'uuid';
import { describeError } from '../../util/describe-error';
import type { Log } from '../../util/log';

/** The plugin's mark in Kuzzle's internal cache, beside the tokens: flushed with them. */
const MARK_KEY = 'kpc/token-store-mark';
/** How often a node looks at the mark (see TokenStoreMark.watch). */
export const MARK_CHECK_MS = 10_000;

/** Kuzzle's internal cache, as the mark needs it. */
export interface MarkCache {
  get(key: string): Promise<unknown>;
  /** Writes `value` unless the key holds one already. */
  storeIfNew(key: string, value: string): Promise<void>;
}

/**
 * Tells a token gone with the data of Kuzzle's token store (a Redis flush,
 * a restart without persistence: one Kuzzle keeps those connections) from
 * one revoked while this node did not hear it (dropped, as one Kuzzle
 * drops it). Kuzzle's own mark (`token/bootstrap`) is written when a
 * Kuzzle starts only: taken as the sign of a loss, it said "lost" from the
 * first flush until a restart, and every token revoked later while this
 * node was cut off kept its connections here. The plugin's mark holds a
 * random value, written again (once, by whichever node first finds it
 * gone) after a loss: a node that finds another value than the one it last
 * saw knows the store lost its data since, and notes the tokens it held:
 * only those may have gone with it. Looked at every {@link MARK_CHECK_MS},
 * so that a token made after a loss is not taken for one lost with it.
 */
export class TokenStoreMark {
  /** The mark's value this node last saw (none before its first look). */
  private seen: string | undefined;
  /** Tokens this node held when it saw the store lose its data, while it still holds them. */
  private readonly heldAtLoss = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;

  constructor(
    private readonly cache: MarkCache,
    /** Ids of the tokens whose connections this node holds. */
    private readonly held: () => Iterable<string>,
    private readonly log: Log,
  ) {}

  /** Looks now, then every {@link MARK_CHECK_MS}; a failed look is reported and made again at the next. */
  async watch(): Promise<void> {
    if (this.timer) return;
    this.timer = setInterval(() => void this.look().catch((error: unknown) => this.failed(error)), MARK_CHECK_MS);
    this.timer.unref();
    await this.look().catch((error: unknown) => this.failed(error));
  }

  private failed(error: unknown): void {
    this.log('warn', `the token store's mark not read, read again in ${MARK_CHECK_MS / 1000} s: ${describeError(error)}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The tokens this node held when it saw the store lose its data, those
   * alone may be gone with it rather than revoked (the mark looked at once
   * more first). Rejects when the mark cannot be read: nothing can be told.
   */
  async heldAtLosses(): Promise<ReadonlySet<string>> {
    await this.look();
    return this.heldAtLoss;
  }

  /**
   * A token read from the store since: whatever the store lost, it holds
   * this one now (an API key Kuzzle loaded again at a start, say), so it
   * can no longer be gone with a loss, only revoked.
   */
  foundInStore(tokenId: string): void {
    this.heldAtLoss.delete(tokenId);
  }

  /** One look at a time: the looks asked meanwhile share it. */
  private look(): Promise<void> {
    this.looking ??= this.readMark().finally(() => (this.looking = undefined));
    return this.looking;
  }

  private async readMark(): Promise<void> {
    let value = await this.cache.get(MARK_KEY);
    if (typeof value !== 'string') {
      // Two nodes finding it gone at once: one value wins, both read it.
      await this.cache.storeIfNew(MARK_KEY, uuidv4());
      value = await this.cache.get(MARK_KEY);
      if (typeof value !== 'string') throw new Error(`the token store's mark (${MARK_KEY}) cannot be written`);
    }
    const held = new Set(this.held());
    for (const id of this.heldAtLoss) if (!held.has(id)) this.heldAtLoss.delete(id);
    if (this.seen !== undefined && value !== this.seen) {
      for (const id of held) this.heldAtLoss.add(id);
      this.log('warn', `Kuzzle's token store lost its data (its mark ${MARK_KEY} is gone): the connections of the ${held.size} token(s) this node holds are kept if their token is found gone, as one Kuzzle keeps them`);
    }
    this.seen = value;
  }
}
