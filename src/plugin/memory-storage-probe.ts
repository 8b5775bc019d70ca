import { v4 as uuidv4 } from 'uuid';
import type { StateMark } from '../state/shared-state';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { realScheduler, type Cancel, type Scheduler } from '../util/scheduler';
import type { MemoryStorageGuard } from './memory-storage-guard';

type Execute = (command: string, ...args: unknown[]) => Promise<unknown>;

/** How long a mark is left before memoryStorage reads it: a memoryStorage reading from a replica sees it by then. */
export const MARK_SETTLE_MS = 1_000;
/** Rounds in a row where memoryStorage did not see the mark before the databases count as apart. */
export const ROUNDS_APART = 3;
/** How long after a round that could not tell the next one starts. */
export const PROBE_AGAIN_MS = 60_000;

/** What one round found: shared or not, or why it could not tell. */
export type ProbeOutcome = { shares: boolean } | { unknown: string };

/**
 * The key prefixes Kuzzle's memoryStorage client adds to key arguments
 * (ioredis' `keyPrefix`: `options` on one server, `clusterOptions` on a
 * Redis Cluster; both read, whichever applies): with one, a user's
 * `pc:…` may name the plugin's `kpc:…`, and the probe's read would not
 * name the plugin's mark.
 */
export function keyPrefixesOf(memoryStorage: Record<string, unknown> | undefined): string[] {
  const prefixOf = (options: unknown): unknown => (options !== null && typeof options === 'object' ? (options as { keyPrefix?: unknown }).keyPrefix : undefined);
  return [prefixOf(memoryStorage?.options), prefixOf(memoryStorage?.clusterOptions)].filter((prefix): prefix is string => typeof prefix === 'string' && prefix !== '');
}

/**
 * One round: whether Kuzzle's memoryStorage reaches the database of the
 * plugin's state, asked of Redis rather than guessed from two
 * configurations (host names, databases and Redis Cluster seeds name one
 * server in many ways). The plugin writes a random value under its mark
 * with its own client; after {@link MARK_SETTLE_MS}, memoryStorage's client
 * (`execute`, Kuzzle's unguarded answerer) reads the mark. Reading the value
 * proves the sharing (nobody else knows it). Not reading it counts only if
 * the plugin's client read it just before and just after: otherwise the
 * mark was lost meanwhile (a flush, a failover) and the round cannot tell.
 */
export async function probeRound(execute: Execute, mark: StateMark, settle: () => Promise<void>): Promise<ProbeOutcome> {
  const value = uuidv4();
  try {
    await mark.write(value, 10 * MARK_SETTLE_MS);
    await settle();
    if ((await mark.read()) !== value) return { unknown: 'the mark was lost before memoryStorage read it' };
    if ((await execute('get', mark.key)) === value) return { shares: true };
    if ((await mark.read()) !== value) return { unknown: 'the mark was lost while memoryStorage read it' };
    return { shares: false };
  } catch (error) {
    return { unknown: describeError(error) };
  }
}

/**
 * Runs rounds from this node's start until it knows: shared at the first
 * round that sees the mark, apart after {@link ROUNDS_APART} rounds in a
 * row that do not (then the guard is off, for the life of the process: the
 * databases do not move while Kuzzle runs). A round that cannot tell
 * (memoryStorage or Redis not answering, the mark lost) keeps the guard on
 * and starts the count again {@link PROBE_AGAIN_MS} later. With a key prefix
 * on memoryStorage no round can tell: the guard stays on. Logs each new
 * conclusion once.
 */
export class SharingWatch {
  private cancel: Cancel | undefined;
  /** Ends a round's wait for the mark to settle at once (on stop). */
  private wake: (() => void) | undefined;
  private apart = 0;
  private lastSaid = '';
  private stopped = false;

  constructor(
    private readonly guard: MemoryStorageGuard,
    private readonly execute: Execute,
    private readonly mark: StateMark,
    private readonly keyPrefixes: readonly string[],
    private readonly log: Log,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  /** Starts the rounds; resolves once they have concluded, or failed to (the next ones then run later); never rejects. */
  async start(): Promise<void> {
    if (this.keyPrefixes.length > 0) {
      this.say('warn', `memoryStorage adds a key prefix (${this.keyPrefixes.map((prefix) => JSON.stringify(prefix)).join(', ')}): whether it shares the plugin's Redis database cannot be told, so ms:* commands stay checked for the plugin's keys`);
      return;
    }
    await this.round();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.wake?.();
  }

  private async round(): Promise<void> {
    const settle = (): Promise<void> =>
      new Promise<void>((resolve) => {
        this.wake = resolve;
        this.cancel = this.scheduler.after(MARK_SETTLE_MS, resolve);
      });
    const outcome = await probeRound(this.execute, this.mark, settle);
    if (this.stopped) return;
    if ('unknown' in outcome) {
      this.apart = 0;
      this.guard.settle(undefined);
      this.say('warn', `could not tell whether memoryStorage shares the plugin's Redis database (${outcome.unknown}): ms:* commands stay checked for the plugin's keys; asking again in ${PROBE_AGAIN_MS / 1000} s`);
      this.cancel = this.scheduler.after(PROBE_AGAIN_MS, () => void this.round());
      return;
    }
    if (outcome.shares) {
      this.guard.settle(true);
      this.say('info', "memoryStorage shares the plugin's Redis database: ms:* commands naming the plugin's keys are refused, and its keys hidden from their results");
      return;
    }
    if (++this.apart < ROUNDS_APART) return this.round();
    this.guard.settle(false);
    this.say('info', "memoryStorage has a Redis database of its own: ms:* commands are not checked");
  }

  private say(level: 'info' | 'warn', message: string): void {
    if (message === this.lastSaid) return;
    this.lastSaid = message;
    this.log(level, message);
  }
}
