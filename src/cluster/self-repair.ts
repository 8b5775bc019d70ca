import { ownerOf, type NodeCard } from '../membership/node-card';
import type { StateAvailability } from '../state/availability';
import type { RealtimeStore } from '../state/realtime-store';
import type { EpochProbe } from '../state/shared-state';
import type { RealtimeSync } from '../sync/realtime-sync';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { Cancel, Scheduler } from '../util/scheduler';
import { SerialQueue } from '../util/serial-queue';
import { withTimeout } from '../util/with-timeout';

/** What self-repair found and did, for status and metrics. */
export interface RepairStats {
  /** Times Redis was found to have lost the cluster's state (epoch gone or changed). */
  stateLosses: number;
  /** Collections where this node's subscriptions drifted from the shared state (then rewritten). */
  drifts: number;
  /** Leftovers of nodes that are gone, purged by the sweep. */
  ghostsPurged: number;
  /** Repairs run after broadcasts were missed. */
  gapRepairs: number;
  /** Rooms whose index entries were checked again after a step that gave up (a removal's check, a relisting; see GlobalIndex.repairPending). */
  indexRepairs: number;
  /** This node's rooms found without their index entry, and listed again (see RealtimeRepair.restoreEntries). */
  entriesRestored: number;
  /** Index entries of rooms that no longer exist (or that did not decode), removed by the index sweep (see RealtimeStore.sweepStaleEntries). */
  staleEntriesRemoved: number;
}

/** Every how many periodic anti-entropy passes this node's rooms' index entries are checked (and in the pass after an outage). */
const ENTRY_CHECK_PASSES = 6;
/**
 * Index entries each anti-entropy pass reads in its step of the index
 * sweep: with the default period, a node walks 100,000 rooms' entries in
 * about 17 minutes (each node walks on its own, from its own cursor), for
 * some 100 reads a second on Redis per node.
 */
const SWEEP_ENTRIES_PER_PASS = 1000;

export interface SelfRepairHooks {
  /** After Redis lost its data and this node wrote its subscriptions back: what else to write back. */
  stateLost(): Promise<void>;
  /** Broadcasts from a peer were lost: catch up on what they may have carried. */
  catchUp(reason: string): Promise<void>;
}

/**
 * The checks that let the cluster repair itself without a manual reset:
 * - every heartbeat, the Redis epoch (lost state → write everything back;
 *   unreachable → a degraded period in status, health 503 past its bound);
 * - when a degraded period ends (a failover, Redis back), an anti-entropy
 *   pass at once: writes lost with a failed master are written again;
 * - every `antiEntropyMs`, this node's subscriptions against what the shared
 *   state holds for it (drift → rewrite those collections), and the owners
 *   in the shared state against the live nodes (leftovers → purged), and
 *   the index entries a step of this node left in doubt (checked again);
 *   every {@link ENTRY_CHECK_PASSES} passes and after an outage, the index
 *   entries of all its rooms (missing ones written back); and, at each
 *   pass, a step of a walk over the whole room index (stale entries,
 *   whichever node left them, removed);
 * - on a sequence gap, a catch-up of the Kuzzle-wide state (the lost
 *   broadcasts may have carried a change of it).
 */
export class SelfRepair {
  readonly stats: RepairStats = { stateLosses: 0, drifts: 0, ghostsPurged: 0, gapRepairs: 0, indexRepairs: 0, entriesRestored: 0, staleEntriesRemoved: 0 };
  private readonly timers: Cancel[] = [];
  /**
   * Repairs, one at a time. One of a kind already waiting for its turn is
   * not queued twice: it would do the same work (an anti-entropy pass
   * outlasting its period, e.g. while Redis is down, must not queue one more
   * each period and run them back to back after).
   */
  private readonly repairs = new SerialQueue();
  /** Held in {@link StateAvailability} while the epoch probe fails. */
  private probeFailure: object | undefined;
  private probing = false;
  /** Set by {@link stop}: a repair queued or starting after it would write back what the leave purges. */
  private stopped = false;
  /** Whether the next anti-entropy pass checks the index entries of all this node's rooms. */
  private entriesDue = false;
  private periodicPasses = 0;
  /** Where this node's walk over the room index goes on at the next pass. */
  private sweepCursor = '0';

  constructor(
    private readonly epoch: EpochProbe,
    private readonly store: Pick<RealtimeStore, 'owners' | 'repairPending' | 'sweepStaleEntries'>,
    private readonly sync: Pick<RealtimeSync, 'rewrite' | 'findDrift' | 'purgeOwner' | 'restoreEntries'>,
    /** This node's current card: its own owner is never a ghost. */
    private readonly self: () => NodeCard,
    private readonly hooks: SelfRepairHooks,
    private readonly availability: StateAvailability,
    private readonly options: { epochMs: number; antiEntropyMs: number; isLive(ownerId: string): Promise<boolean>; scheduler: Scheduler; log: Log },
  ) {
    availability.onRecovered((periodMs) => {
      options.log('info', `shared state answering again after ${periodMs} ms: checking for writes lost meanwhile`);
      // A failover may have lost writes Redis had acknowledged, entries included.
      this.entriesDue = true;
      this.queueOnce('anti-entropy', 'anti-entropy after an outage', () => this.antiEntropy());
    });
  }

  async start(): Promise<void> {
    await this.epoch.check();
    // Stopped while the epoch was read (a stop during the node's start): no timer must outlive it.
    if (this.stopped) return;
    const { scheduler } = this.options;
    this.timers.push(
      scheduler.every(this.options.epochMs, () => void this.checkEpoch()),
      scheduler.every(this.options.antiEntropyMs, () => {
        if (++this.periodicPasses % ENTRY_CHECK_PASSES === 0) this.entriesDue = true;
        this.queueOnce('anti-entropy', 'anti-entropy', () => this.antiEntropy());
      }),
    );
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers.splice(0)) cancel();
  }

  /** Broadcasts of `peerId` were lost: catch up (at most one repair queued). */
  gap(peerId: string, missed: number): void {
    this.options.log('warn', `${missed} broadcast(s) of ${peerId} were lost: catching up`);
    this.queueOnce('gap repair', 'gap repair', async () => {
      this.stats.gapRepairs++;
      const started = Date.now();
      await this.hooks.catchUp(`broadcasts of ${peerId} were lost`);
      this.options.log('info', `repaired after lost broadcasts of ${peerId}: caught up in ${Date.now() - started} ms`);
    });
  }

  private async checkEpoch(): Promise<void> {
    // A probe stuck on a dead connection must not pile up behind itself.
    if (this.probing) return;
    this.probing = true;
    let lost: boolean;
    try {
      lost = await withTimeout(this.epoch.check(), Math.max(4 * this.options.epochMs, 2000));
    } catch (error) {
      if (this.probeFailure === undefined) this.options.log('error', `shared state unreachable: ${describeError(error)}`);
      this.probeFailure = this.availability.failed('state probe', error, this.probeFailure);
      return;
    } finally {
      this.probing = false;
    }
    if (this.probeFailure !== undefined) {
      this.options.log('info', 'shared state reachable again');
      this.availability.succeeded(this.probeFailure);
      this.probeFailure = undefined;
    }
    if (!lost) return;
    this.stats.stateLosses++;
    this.options.log('warn', 'Redis lost the cluster state (epoch gone or changed): writing this node\'s state back');
    this.serially('state restore', async () => {
      const written = await this.sync.rewrite();
      await this.hooks.stateLost();
      this.options.log('info', `state restored: ${written.rooms} room(s), ${written.subscribers} subscriber(s) written back`);
    });
  }

  /**
   * Last chance for the index checks this node still holds (see
   * GlobalIndex.repairPending), once its leave has purged its own
   * subscriptions (whose removals may add some): they live in this node's
   * memory only, and no peer would take them over. Runs although
   * {@link stop} was called, beside a pass under way rather than after it
   * (each check takes the rooms it checks: the two never check the same;
   * a leave must not wait for a whole pass). Never rejects.
   */
  repairBeforeLeaving(): Promise<void> {
    return this.repairIndex('left unchecked by this node\'s leave');
  }

  private async antiEntropy(): Promise<void> {
    try {
      await this.checkAndRepair();
    } finally {
      // Whatever failed before it (a purge, a rewrite): the walk goes on.
      await this.sweepIndexStep();
    }
  }

  private async checkAndRepair(): Promise<void> {
    // First, and never in the way of the rest (it does not throw).
    await this.repairIndex('tried again at the next pass');
    const drift = await this.sync.findDrift();
    if (drift.length > 0) {
      this.stats.drifts += drift.length;
      for (const d of drift) {
        const moved = d.local.rooms === d.stored.rooms && d.local.subscribers === d.stored.subscribers ? ', in other rooms' : '';
        this.options.log('warn', `drift in ${d.index}/${d.collection}: this node holds ${d.local.rooms} room(s) / ${d.local.subscribers} subscriber(s), the shared state ${d.stored.rooms} / ${d.stored.subscribers}${moved}: rewriting`);
      }
      await this.sync.rewrite([], drift);
    }
    if (this.entriesDue) {
      try {
        const restored = await this.sync.restoreEntries();
        // Only once done: a check that failed (Redis gone again) runs at the next pass.
        this.entriesDue = false;
        this.stats.entriesRestored += restored;
        if (restored > 0) this.options.log('warn', `index entries of ${restored} room(s) of this node were missing (lost by Redis?): written back`);
      } catch (error) {
        this.options.log('warn', `index entries of this node's rooms not checked, tried again at the next pass: ${describeError(error)}`);
      }
    }
    await this.sweepGhosts();
  }

  /**
   * One step of this node's walk over the room index. A failed step is
   * logged and taken again from the same place at the next pass.
   */
  private async sweepIndexStep(): Promise<void> {
    try {
      const step = await this.store.sweepStaleEntries(this.sweepCursor, SWEEP_ENTRIES_PER_PASS);
      this.sweepCursor = step.cursor;
      this.stats.staleEntriesRemoved += step.stale + step.corrupt;
      if (step.stale > 0) this.options.log('info', `index sweep: the entries of ${step.stale} room(s) that no longer exist removed`);
      // Only a foreign or broken writer leaves these: worth an operator's look.
      if (step.corrupt > 0) this.options.log('warn', `index sweep: ${step.corrupt} index entr(ies) that do not name a collection dropped`);
      if (step.unlisted > 0) this.options.log('info', `index sweep: ${step.unlisted} collection(s) listed without rooms unlisted`);
    } catch (error) {
      this.options.log('warn', `index sweep step failed, taken again at the next pass: ${describeError(error)}`);
    }
  }

  private async repairIndex(onFailure: string): Promise<void> {
    const repaired = await this.store.repairPending();
    this.stats.indexRepairs += repaired.checked;
    if (repaired.checked > 0) this.options.log('info', `index entries of ${repaired.checked} room(s) checked again, after a step that had given up`);
    if (repaired.error !== undefined) this.options.log('warn', `index check failed, ${onFailure}: ${describeError(repaired.error)}`);
  }

  /** Purges owners whose node is no longer live (a purge that failed or never ran). */
  async sweepGhosts(): Promise<string[]> {
    const self = ownerOf(this.self());
    const purged: string[] = [];
    for (const owner of await this.store.owners()) {
      if (owner === self || (await this.options.isLive(owner))) continue;
      const removed = await this.sync.purgeOwner(owner);
      this.stats.ghostsPurged++;
      purged.push(owner);
      this.options.log('warn', `purged leftovers of ${owner}, no longer a live node: ${removed} room(s) removed`);
    }
    return purged;
  }

  /** {@link serially}, unless a repair of that kind already waits for its turn. */
  private queueOnce(kind: 'gap repair' | 'anti-entropy', what: string, work: () => Promise<void>): void {
    void this.repairs.once(kind, () => this.guarded(what, work));
  }

  /** Runs repairs one at a time; a failure is logged, the next run tries again. */
  private serially(what: string, work: () => Promise<void>): void {
    void this.repairs.run(() => this.guarded(what, work));
  }

  /** A repair, unless the node stopped; its failure logged, never thrown. */
  private async guarded(what: string, work: () => Promise<void>): Promise<void> {
    if (this.stopped) return;
    try {
      await work();
    } catch (error) {
      this.options.log('error', `${what} failed: ${describeError(error)}`);
    }
  }
}
