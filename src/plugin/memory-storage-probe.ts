import { clusterPrefix, StateKeys } from '../state/keys';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { realScheduler, type Cancel, type Scheduler } from '../util/scheduler';
import type { MemoryStorageGuard } from './memory-storage-guard';

type Execute = (command: string, ...args: unknown[]) => Promise<unknown>;

/** How often a node asks again while memoryStorage is not known to share the plugin's database. */
export const PROBE_AGAIN_MS = 60_000;

/** What a probe found: shared or not, or why it could not tell. */
export type ProbeOutcome = { shares: boolean } | { unknown: string };

export interface ProbeTarget {
  clusterName: string;
  nodeId: string;
  /** memoryStorage's ioredis `keyPrefix`, if any: it prefixes key arguments, not KEYS, SCAN or SORT patterns. */
  keyPrefix: string | undefined;
}

/** The `keyPrefix` of Kuzzle's `services.memoryStorage.options`, if it sets one. */
export function keyPrefixOf(memoryStorage: Record<string, unknown> | undefined): string | undefined {
  const options = memoryStorage?.options;
  const prefix = options !== null && typeof options === 'object' ? (options as { keyPrefix?: unknown }).keyPrefix : undefined;
  return typeof prefix === 'string' && prefix !== '' ? prefix : undefined;
}

/**
 * Whether Kuzzle's memoryStorage reaches the plugin's Redis database,
 * asked of Redis rather than guessed from two configurations (host names,
 * databases and Redis Cluster seeds can name one server in many ways):
 * through memoryStorage's own client (`execute`, Kuzzle's unguarded
 * answerer), does this node's card exist, which the plugin wrote through
 * its own client when the node joined? Seeing it proves the sharing; not
 * seeing it is believed only when the question could be asked plainly:
 * an error (a Redis ACL refusing memoryStorage the command or the key: it
 * may still list key names) or a key prefix (which the probe's key gets
 * and patterns do not) leave it unknown.
 */
export async function probeMemoryStorage(execute: Execute, target: ProbeTarget): Promise<ProbeOutcome> {
  if (target.keyPrefix) return { unknown: `memoryStorage has a keyPrefix (${JSON.stringify(target.keyPrefix)}), which key arguments get and patterns do not` };
  try {
    return { shares: (await execute('hexists', new StateKeys(clusterPrefix(target.clusterName)).cards, target.nodeId)) === 1 };
  } catch (error) {
    return { unknown: describeError(error) };
  }
}

/**
 * Probes once this node's card is in Redis, then again every
 * {@link PROBE_AGAIN_MS} until the sharing is seen (a probe that missed the
 * card, on a replica behind its master or just after a failover that lost
 * it, is corrected by the next one), and tells the guard each time. Logs
 * each change of outcome once.
 */
export class SharingWatch {
  private cancel: Cancel | undefined;
  private lastSaid = '';
  private stopped = false;

  constructor(
    private readonly guard: MemoryStorageGuard,
    private readonly execute: Execute,
    private readonly target: ProbeTarget,
    private readonly log: Log,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  async start(): Promise<void> {
    await this.probe();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  private async probe(): Promise<void> {
    const outcome = await probeMemoryStorage(this.execute, this.target);
    if (this.stopped) return;
    this.guard.settle('shares' in outcome ? outcome.shares : undefined);
    this.say(outcome);
    if (this.guard.knownShared) return;
    this.cancel = this.scheduler.after(PROBE_AGAIN_MS, () => void this.probe());
  }

  private say(outcome: ProbeOutcome): void {
    const said =
      'unknown' in outcome
        ? `could not tell whether memoryStorage shares the plugin's Redis database (${outcome.unknown}): ms:* commands stay checked for the plugin's keys`
        : outcome.shares
          ? "memoryStorage shares the plugin's Redis database: ms:* commands naming the plugin's keys are refused, and its keys hidden from their results"
          : '';
    if (said === this.lastSaid) return;
    this.lastSaid = said;
    if (said !== '') this.log('unknown' in outcome ? 'warn' : 'info', said);
  }
}
