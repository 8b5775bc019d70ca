import { randomBytes } from 'crypto';
import type { Handlers } from '../../bus/message-spec';
import type { SharedRecords } from '../../state/shared-records';
import { describeError } from '../../util/describe-error';
import { LiveChanges } from '../../util/live-changes';
import { RecentMap } from '../../util/recent-map';
import type { KuzzleStateInternals } from '../kuzzle-types';
import type { KuzzleChannel } from './kuzzle-channel';
import { parseStrategyChange, type KuzzleMessages, type StrategyChange } from './messages';

/** Strategy names whose last change is remembered, at most (plugins name them: a handful in practice). */
const MAX_REMEMBERED = 1000;
/** How long a record that failed waits before it is written again. */
const RECORD_RETRY_MS = 5000;

/** A removal as the shared state keeps it: the strategy without its description, with the removal's id. */
const tombstone = (change: StrategyChange): StrategyChange => {
  const removed: StrategyChange = { name: change.name, pluginName: change.pluginName };
  if (change.removal !== undefined) removed.removal = change.removal;
  return removed;
};

/** Strategies that come with Kuzzle itself: never removed by the cluster. */
const PROTECTED = new Set(['local']);

/**
 * Authentication strategies a plugin adds or removes at run time
 * (`context.accessors.strategies.add/remove`, which fire the
 * `core:auth:strategyAdded|Removed` pipes). A strategy is a plain description
 * naming methods of its plugin, so it can only be registered again on a node
 * where that plugin is loaded too; elsewhere it is skipped with a warning.
 * The list is kept in the shared state as well, so that a node that
 * (re)starts later, or was cut off, applies it when it catches up: an added
 * strategy as its description, a removed one as a record without one (a
 * tombstone: deleting the record would not tell a node that missed the
 * removal, nor could it tell that from a Redis that lost its data), which
 * removes it where it was added at run time, and where its plugin
 * registered it at start if the removal came while the node was up (one
 * it finds at its start came before it: its plugin registered the strategy
 * again since, as on one Kuzzle restarted). Each removal has its own id,
 * so a node tells those apart without reading any clock.
 */
export class StrategySync {
  readonly pipes: Record<string, (payload: unknown) => Promise<unknown>> = {
    'core:auth:strategyAdded': async (payload) => {
      const change = parseStrategyChange(payload);
      if (change?.strategy) await this.added(change);
      return payload;
    },
    'core:auth:strategyRemoved': async (payload) => {
      const change = parseStrategyChange(payload);
      if (change) await this.removed(change);
      return payload;
    },
  };

  readonly handlers: Pick<Handlers<KuzzleMessages>, 'kuzzle:strategy:add' | 'kuzzle:strategy:remove'> = {
    'kuzzle:strategy:add': (change) => {
      this.liveChanges.note(change.name);
      this.supersede(change);
      this.register(change);
    },
    'kuzzle:strategy:remove': (change) => {
      this.liveChanges.note(change.name);
      this.supersede(tombstone(change));
      this.unregister(change);
    },
  };

  /** Runtime-added strategies this node knows of, as last stored or received. */
  private runtime = new Map<string, StrategyChange>();
  /** Strategies removed at run time since, as last heard: written back with the added ones after Redis lost them. */
  private readonly removedNames = new RecentMap<string, StrategyChange>(MAX_REMEMBERED);
  /** Strategies changed live: a catch-up leaves alone those changed since it read the records (what it read is older). */
  private readonly liveChanges = new LiveChanges(MAX_REMEMBERED);
  /** The removals recorded when this node first read the records: they came before its plugins registered their strategies. */
  private removalsBeforeStart: Set<string> | undefined;
  /** Records not written yet, by strategy: a change made here (its write under way, or failed and tried again every few seconds), or a peer's change made since, which is written instead. Newer than what the shared state holds. */
  private readonly unwritten = new Map<string, StrategyChange>();
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly channel: KuzzleChannel,
    private readonly records: SharedRecords,
    private readonly kuzzle: KuzzleStateInternals,
    private readonly recordRetryMs = RECORD_RETRY_MS,
  ) {}

  /** Applies the strategies other nodes added or removed while this one was away. */
  async catchUp(): Promise<void> {
    const reading = this.liveChanges.now();
    const changes = (await this.records.all()).map(({ value }) => parseStrategyChange(value));
    const beforeStart = (this.removalsBeforeStart ??= new Set(changes.flatMap((change) => (change?.removal === undefined ? [] : [change.removal]))));
    for (const change of changes) {
      // A strategy this node changed and could not record yet: the record is older than what this node did.
      if (!change || this.liveChanges.since(change.name, reading) || this.unwritten.has(change.name)) continue;
      // One strategy Kuzzle refuses must not keep the others out.
      try {
        if (change.strategy) this.register(change);
        // One added at run time; one its plugin registered at start only if
        // removed since (a removal without id, from an earlier build, counts
        // as before): a plugin's start-up strategy comes back at a restart,
        // as on one Kuzzle.
        else if (this.runtime.has(change.name) || (change.removal !== undefined && !beforeStart.has(change.removal))) this.unregister(change);
      } catch (error) {
        this.channel.log('error', `strategy "${change.name}" could not be ${change.strategy ? 'registered' : 'removed'}: ${describeError(error)}`);
      }
    }
  }

  /** Writes this node's runtime strategies, and the removals it heard, back after the shared state lost them. */
  async persistAgain(): Promise<void> {
    for (const change of this.runtime.values()) await this.records.set(change.name, change);
    // Removals without their ids: a node that started while the state was lost
    // did not find them at its start, yet they came before it (see catchUp).
    // One already stored with its id was written by its remover since the
    // loss: a node started before it must remove a start-up strategy for it.
    // Unread (Redis failing again): each is written without its id, as before there were ids.
    const read = await this.records.all().catch(() => []);
    const stored = new Map(read.map(({ name, value }) => [name, parseStrategyChange(value)?.removal]));
    for (const [name, change] of this.removedNames) {
      if (this.runtime.has(name) || (change.removal !== undefined && stored.get(name) === change.removal)) continue;
      await this.records.set(name, tombstone({ ...change, removal: undefined }));
    }
  }

  /**
   * Kuzzle registered (or removed) the strategy here before its pipe, and
   * refuses to do it again: the peers are told even when the record fails,
   * or they would keep the old state with no way for the caller to retry.
   * The caller gets the record's error; the record is written again
   * every few seconds until it is, and a catch-up meanwhile
   * does not apply the older record.
   */
  private async added(change: StrategyChange): Promise<void> {
    this.liveChanges.note(change.name);
    this.knownAdded(change);
    try {
      await this.record(change);
    } finally {
      await this.channel.publish('kuzzle:strategy:add', change);
    }
  }

  /** See {@link added}. */
  private async removed(removedHere: StrategyChange): Promise<void> {
    const change = { ...removedHere, removal: randomBytes(16).toString('hex') };
    this.liveChanges.note(change.name);
    this.knownRemoved(change);
    try {
      await this.record(tombstone(change));
    } finally {
      await this.channel.publish('kuzzle:strategy:remove', change);
    }
  }

  /** As the node leaves: no record is tried again. */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  /**
   * A peer's change of a strategy whose record by this node is not written
   * yet (failed, or still under way through a Redis outage): the peer's is
   * newer, and is what this node writes instead, after its own if that one
   * is under way (the two may reach Redis in any order).
   */
  private supersede(stored: StrategyChange): void {
    if (this.unwritten.has(stored.name)) this.unwritten.set(stored.name, stored);
  }

  /** Writes a change made here; kept until written (see {@link unwritten}), unless a later change of the strategy replaced it. */
  private async record(change: StrategyChange): Promise<void> {
    this.unwritten.set(change.name, change);
    try {
      await this.records.set(change.name, change);
    } catch (error) {
      this.recordLater();
      throw error;
    }
    const latest = this.unwritten.get(change.name);
    if (latest === change) this.unwritten.delete(change.name);
    // Replaced while this write was under way: the later change is written after it, so that it is the one Redis keeps.
    else if (latest !== undefined) void this.record(latest).catch(() => undefined);
  }

  private recordLater(): void {
    if (this.retry || this.stopped) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.recordUnwritten();
    }, this.recordRetryMs);
    this.retry.unref();
  }

  private async recordUnwritten(): Promise<void> {
    for (const change of [...this.unwritten.values()]) {
      // Replaced by a later change meanwhile (written by its own call), or by a peer's.
      if (this.unwritten.get(change.name) !== change) continue;
      try {
        await this.record(change);
      } catch (error) {
        this.channel.log('warn', `strategy "${change.name}" still not recorded in the shared state, retrying: ${describeError(error)}`);
        return;
      }
    }
  }

  /** What {@link persistAgain} writes back: a strategy added at run time… */
  private knownAdded(change: StrategyChange): void {
    this.runtime.set(change.name, change);
    this.removedNames.delete(change.name);
  }

  /** …or removed at run time. */
  private knownRemoved(change: StrategyChange): void {
    this.runtime.delete(change.name);
    this.removedNames.set(change.name, change);
  }

  private register(change: StrategyChange): void {
    const manager = this.kuzzle.pluginsManager;
    if (!manager || !change.strategy || PROTECTED.has(change.name)) return;
    const owner = change.pluginName.toLowerCase();
    const loaded = manager.plugins.some((plugin) => plugin.name === owner) || manager.application?.name === owner;
    if (!loaded) {
      this.channel.log('warn', `strategy "${change.name}" skipped: plugin "${change.pluginName}" is not loaded on this node`);
      return;
    }
    // registerStrategy does not fire core:auth:strategyAdded: no echo.
    manager.registerStrategy(change.pluginName, change.name, change.strategy);
    this.knownAdded(change);
  }

  private unregister(change: StrategyChange): void {
    this.knownRemoved(change);
    const manager = this.kuzzle.pluginsManager;
    if (!manager || PROTECTED.has(change.name)) return;
    const owner = manager.strategies[change.name]?.owner;
    if (owner !== change.pluginName.toLowerCase()) return;
    manager.unregisterStrategy(owner, change.name);
  }
}
