import groupBy from 'lodash/groupBy';
import type { GlobalIndex } from './global-index';
import type { CollectionKeys } from './keys';
import { asArray, asInteger } from './replies';
import { roomWeight } from './room-weight';
import { chunksOf } from '../util/chunks';
import { TurnBatch } from '../util/turn-batch';

/**
 * Runs the subscriptions' script (`adjustSubscribers`) for an owner on
 * these changes (four arguments each), once: retried and timed by the
 * store, which sends the same batch token with every try.
 */
export type AdjustScript = (k: CollectionKeys, owner: string, changes: ReadonlyArray<string | number>) => Promise<unknown>;

/** Subscribers of one owner added to (delta > 0) or removed from (delta < 0) one room. */
export interface SubscriberChange {
  k: CollectionKeys;
  owner: string;
  roomId: string;
  delta: number;
  /** The room's JSON, stored when this creates the room ('' for a removal). */
  json: string;
  /** An addition whose owner already counts subscribers in the room: its index entries exist. */
  indexed: boolean;
}

/** What a change did: the room's count right after it, and whether it created or deleted the room. */
export interface SubscriberChangeResult {
  total: number;
  created: boolean;
  removed: boolean;
}

/** Changes per script call: each Redis call stays short. */
const PER_CALL = 500;
/**
 * A batch under way this long (ms) no longer holds back the changes of
 * other collections (see TurnBatch): a Redis Cluster master failing over
 * (some 20 s) holds only the collections on its slots.
 */
const STUCK_AFTER_MS = 1000;

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * A node's subscriptions and unsubscriptions, written in batches: those
 * made while the previous batch is being written go together, in the order
 * they were made (an unsubscription never overtakes the subscription before
 * it): the collections where the owner gets subscribers listed (only those
 * this node has not listed for it lately, see GlobalIndex.list), then one
 * script per collection and owner, then the index entries of the rooms
 * each script subscribed the owner to (one write per owner for the scripts
 * that end in the same turn), then the index entries of deleted rooms
 * (a failure there leaves stale entries only: the changes are done). Each
 * collection's callers are answered once its own steps are done: one
 * whose Redis Cluster master fails over holds back its own collection
 * only (see TurnBatch's stuckAfterMs).
 * Under a burst (a reconnect storm, many clients subscribing at once) a
 * node otherwise spent over a quarter of its CPU in ioredis and its socket
 * writes, two Redis calls per subscription. Each change still gets the
 * room's count right after it. A collection whose script fails fails only
 * its own callers; a listing or an index write that fails fails the
 * subscriptions that needed it (and, for a listing, as many removals after
 * them from their rooms).
 */
export class SubscriberWrites {
  private readonly batch = new TurnBatch<SubscriberChange, Outcome<SubscriberChangeResult>>((changes) => this.flush(changes), {
    // Changes of one room are in one collection: ordered there, free elsewhere.
    keyOf: (change) => change.k.ref,
    stuckAfterMs: STUCK_AFTER_MS,
  });
  /** The index entries of the collections whose scripts ended in one turn (or while the previous write was under way), one write per owner. */
  private readonly entryWrites = new TurnBatch<EntryWrite, { error: unknown } | undefined>((writes) => this.writeEntries(writes));

  constructor(
    private readonly index: Pick<GlobalIndex, 'list' | 'addAll' | 'removeRooms' | 'removeOwnerCollection' | 'checkLater'>,
    private readonly script: AdjustScript,
  ) {}

  write(change: SubscriberChange): Promise<SubscriberChangeResult> {
    return this.batch.add(change).then(unwrap);
  }

  private flush(changes: SubscriberChange[]): Array<Promise<Outcome<SubscriberChangeResult>>> {
    const outcomes = this.listThenWrite(changes);
    return changes.map((change) => outcomes.then((byChange) => byChange.get(change) as Promise<Outcome<SubscriberChangeResult>>));
  }

  /** Each change's outcome, settling as its collection's steps are done; never rejects. */
  private async listThenWrite(changes: SubscriberChange[]): Promise<Map<SubscriberChange, Promise<Outcome<SubscriberChangeResult>>>> {
    // The listing first, confirmed (see GlobalIndex): a script that ran
    // without it would leave a count that neither this node's drift check
    // nor a peer's purge of this owner finds (they look where the owner is
    // listed). So the scripts wait for it, even on one server, where they
    // could go in the same write: both are retried apart, and the listing
    // could give up while the script's last try went through. A failed
    // listing fails the subscriptions, and as many removals after them
    // from the same rooms (each may be a refused subscription's own undo,
    // which written alone would count its room one too low, or delete it
    // under a subscriber); the other removals are written (refusing them
    // too left their rooms counted one too high until a drift check).
    let listingFailure: { error: unknown } | undefined;
    await Promise.all(
      Object.entries(groupBy(changes.filter(adds), (change) => change.owner)).map(([owner, adding]) =>
        this.index.list(owner, Object.values(groupBy(adding, (change) => change.k.ref)).map((same) => firstOf(same).k)),
      ),
    ).catch((error: unknown) => (listingFailure = { error }));
    const outcomes = new Map<SubscriberChange, Promise<Outcome<SubscriberChangeResult>>>();
    let writable = changes;
    if (listingFailure) {
      const failure = Promise.resolve<Outcome<SubscriberChangeResult>>({ ok: false, error: listingFailure.error });
      // Per room: subscribers refused, not yet matched by a refused removal.
      const unmatched = new Map<string, number>();
      writable = [];
      for (const change of changes) {
        const room = `${change.k.ref}\n${change.roomId}`;
        const owed = unmatched.get(room) ?? 0;
        if (adds(change) || owed > 0) {
          unmatched.set(room, Math.max(0, owed + change.delta));
          outcomes.set(change, failure);
        } else writable.push(change);
      }
    }
    for (const group of Object.values(groupBy(writable, (change) => `${change.k.ref}\n${change.owner}`))) {
      const written = this.writeGroup(group);
      group.forEach((change, j) => outcomes.set(change, written.then((results) => results[j] as Outcome<SubscriberChangeResult>)));
    }
    return outcomes;
  }

  /** One collection and owner: its script, its rooms' entries, then its clean-up; one outcome per change; never rejects. */
  private async writeGroup(group: SubscriberChange[]): Promise<Array<Outcome<SubscriberChangeResult>>> {
    const { k, owner } = firstOf(group);
    const written = await this.adjust(group);
    const entryFailure = written.entries.length > 0 ? await this.entryWrites.add({ k, owner, roomIds: written.entries }).catch((error: unknown) => ({ error })) : undefined;
    const outcomes = group.map((change, j): Outcome<SubscriberChangeResult> => {
      const result = written.results[j];
      // Not written: its call failed, or one before it did.
      if (result === undefined) return { ok: false, error: written.failure?.error };
      // Counted, but not listed where a join on another node looks for its room.
      if (entryFailure && (isFresh(change) || result.created)) return { ok: false, error: entryFailure.error };
      return { ok: true, value: result };
    });
    // What a failed clean-up leaves is stale (entries of deleted rooms, a
    // listing without subscribers), checked when read: the changes
    // themselves are done. (Redis unreachable shows in status.)
    await this.cleanUp(group, written).catch(() => undefined);
    return outcomes;
  }

  /**
   * One collection and owner: its script, in calls of at most
   * {@link PER_CALL} changes, until one fails (the changes after it are
   * not sent); never rejects.
   */
  private async adjust(group: SubscriberChange[]): Promise<GroupWrite> {
    const { k, owner } = firstOf(group);
    const results: SubscriberChangeResult[] = [];
    let ownerLeft = 0;
    for (const chunk of chunksOf(group, PER_CALL)) {
      const args: Array<string | number> = [];
      for (const change of chunk) args.push(change.roomId, change.delta, change.json, roomWeight(change.roomId));
      let reply: number[];
      try {
        reply = asArray(await this.script(k, owner, args), 'adjustSubscribers').map((value) => asInteger(value, 'adjustSubscribers'));
      } catch (error) {
        // The call may have gone through (a reply lost): every room it may
        // have created gets its entry all the same (a stale one is
        // harmless, a missing one hides a counted room), and the rooms it
        // may have deleted are checked later (their entries would stay).
        const failed = { error, entries: chunk.filter(adds).map((change) => change.roomId), removals: chunk.filter((change) => !adds(change)).map((change) => change.roomId) };
        return { results, entries: [...entriesOf(group, results), ...failed.entries], failure: failed };
      }
      ownerLeft = reply[0] ?? 0;
      chunk.forEach((_, i) => results.push({ total: reply[1 + 3 * i] ?? 0, created: reply[2 + 3 * i] === 1, removed: reply[3 + 3 * i] === 1 }));
    }
    return { results, ownerLeft, entries: entriesOf(group, results) };
  }

  /** The entries of these collections' rooms, in one index write per owner: each write's failure, if its owner's failed. */
  private writeEntries(writes: EntryWrite[]): Array<Promise<{ error: unknown } | undefined>> {
    const byOwner = new Map<string, Promise<{ error: unknown } | undefined>>();
    for (const [owner, list] of Object.entries(groupBy(writes, (write) => write.owner))) {
      byOwner.set(owner, this.index.addAll(owner, list).then(() => undefined, (error: unknown) => ({ error })));
    }
    return writes.map((write) => byOwner.get(write.owner) as Promise<{ error: unknown } | undefined>);
  }

  /**
   * The index entries of the rooms the group deleted, those of the rooms a
   * failed call may have deleted checked later, and the collection unlisted
   * for an owner left with no subscriber there.
   */
  private async cleanUp(group: SubscriberChange[], written: GroupWrite): Promise<void> {
    const { k, owner } = firstOf(group);
    if (written.failure && written.failure.removals.length > 0) this.index.checkLater(k, written.failure.removals);
    const removed = group.filter((_, i) => written.results[i]?.removed === true).map((change) => change.roomId);
    if (removed.length > 0) await this.index.removeRooms(k, removed);
    if (written.ownerLeft === 0) await this.index.removeOwnerCollection(k, owner);
  }
}

/**
 * What one collection's script did: the result of each change written (in
 * order: those of the calls that went through), the owner's subscribers
 * left there once every call went through, the rooms whose entries to
 * write (see SubscriberWrites.adjust), and the call that failed, if one did.
 */
interface GroupWrite {
  results: SubscriberChangeResult[];
  ownerLeft?: number;
  entries: string[];
  failure?: { error: unknown; removals: string[] };
}

/**
 * Entries for the rooms the owner was added to, and for any room a change
 * created (one the owner already counted in may have been deleted and
 * created again meanwhile): after the script, so that a node removing the
 * entries of rooms of the same ids finds the room when it checks, or
 * removes them before this writes them (see GlobalIndex).
 */
function entriesOf(group: readonly SubscriberChange[], results: readonly SubscriberChangeResult[]): string[] {
  return results.flatMap((result, i) => {
    const change = group[i] as SubscriberChange;
    return isFresh(change) || result.created ? [change.roomId] : [];
  });
}

/** The rooms of one collection whose entries to write for an owner. */
interface EntryWrite {
  k: CollectionKeys;
  owner: string;
  roomIds: string[];
}

/** A subscription: its collection must list the owner before the script runs. */
const adds = (change: SubscriberChange): boolean => change.delta > 0;

/** A subscription to a room its owner does not count subscribers in yet: the room's entry is written after the script. */
const isFresh = (change: SubscriberChange): boolean => change.delta > 0 && !change.indexed;

function unwrap<R>(outcome: Outcome<R>): R {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

function firstOf<T>(list: readonly T[]): T {
  const first = list[0];
  if (first === undefined) throw new Error('empty group');
  return first;
}
