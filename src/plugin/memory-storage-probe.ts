import { v4 as uuidv4 } from 'uuid';
import { isObject } from '../util/guards';
import type { StateMark } from '../state/shared-state';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { realScheduler, type Cancel, type Scheduler } from '../util/scheduler';
import type { Execute, MemoryStorageGuard } from './memory-storage-guard';

/** How long a mark is left before memoryStorage reads it: a memoryStorage reading from a replica sees it by then. */
export const MARK_SETTLE_MS = 1_000;
/** Rounds in a row where memoryStorage did not see the mark before the databases count as apart. */
export const ROUNDS_APART = 3;
/** How long after a round that could not tell, or after the databases were told apart, the next one starts. */
export const PROBE_AGAIN_MS = 60_000;
/** A round not over by then (a Redis that takes commands and never answers) could not tell. */
export const ROUND_TIMEOUT_MS = 10_000;

/** What one round found: shared or not, or why it could not tell. */
export type ProbeOutcome = { shares: boolean } | { unknown: string };

/**
 * The key prefix Kuzzle's memoryStorage client adds to key arguments
 * (ioredis' `keyPrefix`: in `options` on one server; on a Redis Cluster,
 * which Kuzzle makes when `nodes` is set, ioredis takes it from
 * `clusterOptions` only): with one, a user's `pc:…` may name the plugin's
 * `kpc:…`, and the probe would not name the plugin's mark.
 */
export function keyPrefixesOf(memoryStorage: Record<string, unknown> | undefined): string[] {
  const options = memoryStorage?.nodes ? memoryStorage.clusterOptions : memoryStorage?.options;
  let prefix = prefixOf(options);
  // ioredis' Cluster takes its nodes' prefix when it has none of its own.
  if (prefix === undefined && memoryStorage?.nodes && isObject(options)) prefix = prefixOf(options.redisOptions);
  return prefix === undefined ? [] : [prefix];
}

function prefixOf(options: unknown): string | undefined {
  const prefix = isObject(options) ? options.keyPrefix : undefined;
  return typeof prefix === 'string' && prefix !== '' ? prefix : undefined;
}

/**
 * One round: whether Kuzzle's memoryStorage reaches the database of the
 * plugin's state, asked of Redis rather than guessed from two
 * configurations (host names, databases and Redis Cluster seeds name one
 * server in many ways). The plugin writes a random value under its mark
 * with its own client; after {@link MARK_SETTLE_MS}, memoryStorage's client
 * (`execute`, Kuzzle's unguarded answerer) reads the mark with
 * `SET mark value XX GET KEEPTTL`: a write, so that a client reading from
 * replicas (`scaleReads`, a Sentinel replica) asks the master all the same
 * or fails (READONLY); it answers the value there was and changes nothing
 * (the same value on a shared database, no key written on another one).
 * Reading the value proves the sharing (nobody else knows it). Not reading
 * it counts only if the plugin's client read it just before and just
 * after: otherwise the mark was lost meanwhile (a flush, a failover) and the
 * round cannot tell. A Redis before 6.2 refuses that SET: no round tells.
 */
export async function probeRound(execute: Execute, mark: StateMark, settle: () => Promise<void>): Promise<ProbeOutcome> {
  const value = uuidv4();
  try {
    await mark.write(value, 10 * MARK_SETTLE_MS);
    await settle();
    if ((await mark.read()) !== value) return { unknown: 'the mark was lost before memoryStorage read it' };
    if ((await execute('set', mark.key, value, 'XX', 'GET', 'KEEPTTL')) === value) return { shares: true };
    if ((await mark.read()) !== value) return { unknown: 'the mark was lost while memoryStorage read it' };
    return { shares: false };
  } catch (error) {
    return { unknown: describeError(error) };
  }
}

/**
 * Runs rounds from this node's start: shared at the first round that sees
 * the mark (then for the life of the process: the databases do not move
 * while Kuzzle runs), apart after {@link ROUNDS_APART} rounds in a row that
 * do not (then the guard is off). A round that cannot tell (memoryStorage
 * or Redis not answering within {@link ROUND_TIMEOUT_MS}, the mark lost)
 * keeps the guard on and starts the count again {@link PROBE_AGAIN_MS}
 * later. Once apart, a round every {@link PROBE_AGAIN_MS} still looks for
 * the mark: only seeing it turns the guard back on (a conclusion drawn
 * wrongly, e.g. while the two clients disagreed on a Redis Cluster's slot
 * map, is mended within a minute; an error changes nothing). With a key
 * prefix on memoryStorage no round can tell: the guard stays on. Logs each
 * new conclusion once.
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
    let cancelTimeout: Cancel | undefined;
    const timeout = new Promise<ProbeOutcome>((resolve) => {
      cancelTimeout = this.scheduler.after(ROUND_TIMEOUT_MS, () => resolve({ unknown: `no answer within ${ROUND_TIMEOUT_MS / 1000} s` }));
    });
    const outcome = await Promise.race([probeRound(this.execute, this.mark, settle), timeout]);
    cancelTimeout?.();
    if (this.stopped) return;
    // Told apart (the guard is off only then): only the sight of the mark changes it now.
    if (!this.guard.guarded) {
      if ('shares' in outcome && outcome.shares) this.concludeShared();
      else this.again();
      return;
    }
    if ('unknown' in outcome) {
      this.apart = 0;
      this.guard.settle(undefined);
      this.say('warn', `could not tell whether memoryStorage shares the plugin's Redis database (${outcome.unknown}): ms:* commands stay checked for the plugin's keys; asking again in ${PROBE_AGAIN_MS / 1000} s`);
      this.again();
      return;
    }
    if (outcome.shares) return this.concludeShared();
    if (++this.apart < ROUNDS_APART) return this.round();
    this.guard.settle(false);
    this.say('info', "memoryStorage has a Redis database of its own: ms:* commands are not checked");
    this.again();
  }

  /** The next round, {@link PROBE_AGAIN_MS} from now. */
  private again(): void {
    this.cancel = this.scheduler.after(PROBE_AGAIN_MS, () => void this.round());
  }

  private concludeShared(): void {
    this.guard.settle(true);
    this.say('info', "memoryStorage shares the plugin's Redis database: ms:* commands naming the plugin's keys are refused, and its keys hidden from their results");
  }

  private say(level: 'info' | 'warn', message: string): void {
    if (message === this.lastSaid) return;
    this.lastSaid = message;
    this.log(level, message);
  }
}
