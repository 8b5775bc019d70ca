import groupBy from 'lodash/groupBy';
import type { GlobalIndex } from './global-index';
import type { CollectionKeys } from './keys';
import { asArray, asInteger } from './replies';
import type { ScriptName } from './scripts';
import { chunksOf } from '../util/chunks';
import { TurnBatch } from '../util/turn-batch';

/** Runs one of the collection scripts for an owner (retried and timed by the store). */
export type CollectionScript = (name: ScriptName, k: CollectionKeys, owner: string, args: ReadonlyArray<string | number>) => Promise<unknown>;

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

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * A node's subscriptions and unsubscriptions, written in batches: those
 * made while the previous batch is being written go together, in the order
 * they were made (an unsubscription never overtakes the subscription before
 * it): the collections where the owner gets subscribers listed (only those
 * this node has not listed for it lately, see GlobalIndex.list), then one
 * script per collection and owner, then one index write for the rooms the
 * batch subscribed the owner to, then the index entries of deleted rooms
 * (a failure there leaves stale entries only: the changes are done).
 * Under a burst (a reconnect storm, many clients subscribing at once) a
 * node otherwise spent over a quarter of its CPU in ioredis and its socket
 * writes, two Redis calls per subscription. Each change still gets the
 * room's count right after it. A collection whose script fails fails only
 * its own callers; a listing or an index write that fails fails the
 * subscriptions that needed it (and the changes after them to their rooms).
 */
export class SubscriberWrites {
  private readonly batch = new TurnBatch<SubscriberChange, Outcome<SubscriberChangeResult>>((changes) => this.flush(changes));

  constructor(
    private readonly index: Pick<GlobalIndex, 'list' | 'addAll' | 'removeRooms' | 'removeOwnerCollection'>,
    private readonly script: CollectionScript,
  ) {}

  write(change: SubscriberChange): Promise<SubscriberChangeResult> {
    return this.batch.add(change).then(unwrap);
  }

  private async flush(changes: SubscriberChange[]): Promise<Array<Outcome<SubscriberChangeResult>>> {
    // The listing first, confirmed (see GlobalIndex): a script that ran
    // without it would leave a count that neither this node's drift check
    // nor a peer's purge of this owner finds (they look where the owner is
    // listed). So the scripts wait for it, even on one server, where they
    // could go in the same write: both are retried apart, and the listing
    // could give up while the script's last try went through. A failed
    // listing fails the subscriptions, and the changes after them to the
    // same rooms; the others (unsubscriptions) are written.
    let listingFailure: { error: unknown } | undefined;
    await Promise.all(
      Object.entries(groupBy(changes.filter(adds), (change) => change.owner)).map(([owner, adding]) =>
        this.index.list(owner, Object.values(groupBy(adding, (change) => change.k.ref)).map((same) => firstOf(same).k)),
      ),
    ).catch((error: unknown) => (listingFailure = { error }));
    const outcomes = new Map<SubscriberChange, Outcome<SubscriberChangeResult>>();
    let writable = changes;
    if (listingFailure) {
      const failure: Outcome<SubscriberChangeResult> = { ok: false, error: listingFailure.error };
      const refused = new Set<string>();
      writable = [];
      for (const change of changes) {
        const room = `${change.k.ref}\n${change.roomId}`;
        if (adds(change)) refused.add(room);
        if (refused.has(room)) outcomes.set(change, failure);
        else writable.push(change);
      }
    }
    const groups = Object.values(groupBy(writable, (change) => `${change.k.ref}\n${change.owner}`));
    const scripts = await Promise.all(groups.map((group) => this.adjust(group)));
    const entryFailures = await this.writeEntries(groups, scripts);
    await Promise.all(
      groups.map(async (group, i) => {
        const written = scripts[i] as GroupWrite;
        let outcome: (change: SubscriberChange, j: number) => Outcome<SubscriberChangeResult>;
        if (!written.ok) {
          outcome = () => written;
        } else {
          const entryFailure = entryFailures.get(firstOf(group).owner);
          const { results } = written;
          outcome = (change, j) => {
            const result = results[j] as SubscriberChangeResult;
            // Counted, but not listed where a join on another node looks for its room.
            if (entryFailure && (isFresh(change) || result.created)) return { ok: false, error: entryFailure.error };
            return { ok: true, value: result };
          };
          // What a failed clean-up leaves is stale (entries of deleted
          // rooms, a listing without subscribers), checked when read: the
          // changes themselves are done. (Redis unreachable shows in status.)
          await this.cleanUp(group, written).catch(() => undefined);
        }
        group.forEach((change, j) => outcomes.set(change, outcome(change, j)));
      }),
    );
    return changes.map((change) => outcomes.get(change) as Outcome<SubscriberChangeResult>);
  }

  /** One collection and owner: its script, in calls of at most {@link PER_CALL} changes; never rejects. */
  private async adjust(group: SubscriberChange[]): Promise<GroupWrite> {
    const { k, owner } = firstOf(group);
    const results: SubscriberChangeResult[] = [];
    let ownerLeft = 0;
    try {
      for (const chunk of chunksOf(group, PER_CALL)) {
        const args: Array<string | number> = [owner];
        for (const change of chunk) args.push(change.roomId, change.delta, change.json);
        const reply = asArray(await this.script('adjustSubscribers', k, owner, args), 'adjustSubscribers').map((value) => asInteger(value, 'adjustSubscribers'));
        ownerLeft = reply[0] ?? 0;
        chunk.forEach((_, i) => results.push({ total: reply[1 + 3 * i] ?? 0, created: reply[2 + 3 * i] === 1, removed: reply[3 + 3 * i] === 1 }));
      }
    } catch (error) {
      // The script may have gone through (a reply lost), or some of its
      // calls: every room it may have created gets its entry all the same
      // (a stale one is harmless, a missing one hides a counted room).
      return { ok: false, error, entries: group.filter(adds).map((change) => change.roomId) };
    }
    // Entries for the rooms the owner was added to, and for any room a
    // change created (one the owner already counted in may have been
    // deleted and created again meanwhile): after the script, so that a
    // node removing the entries of rooms of the same ids finds the room
    // when it checks, or removes them before this writes them (see GlobalIndex).
    const entries = group.filter((change, i) => isFresh(change) || results[i]?.created === true).map((change) => change.roomId);
    return { ok: true, results, ownerLeft, entries };
  }

  /** The entries of every collection's rooms, in one index write per owner; the owners whose write failed, with its error. */
  private async writeEntries(groups: SubscriberChange[][], scripts: GroupWrite[]): Promise<Map<string, { error: unknown }>> {
    const entries = groups.flatMap((group, i) => {
      const roomIds = scripts[i]?.entries ?? [];
      const { k, owner } = firstOf(group);
      return roomIds.length === 0 ? [] : [{ k, owner, roomIds }];
    });
    const failures = new Map<string, { error: unknown }>();
    await Promise.all(
      Object.entries(groupBy(entries, (entry) => entry.owner)).map(([owner, list]) =>
        this.index.addAll(owner, list).catch((error: unknown) => void failures.set(owner, { error })),
      ),
    );
    return failures;
  }

  /** The index entries of the rooms the group deleted, and the collection unlisted for an owner left with no subscriber there. */
  private async cleanUp(group: SubscriberChange[], written: { results: SubscriberChangeResult[]; ownerLeft: number }): Promise<void> {
    const { k, owner } = firstOf(group);
    const removed = group.filter((_, i) => written.results[i]?.removed === true).map((change) => change.roomId);
    if (removed.length > 0) await this.index.removeRooms(k, removed);
    if (written.ownerLeft === 0) await this.index.removeOwnerCollection(k, owner);
  }
}

/**
 * What one collection's script did: each change's result and the owner's
 * subscribers left there, or its error; and the rooms whose entries to
 * write (see SubscriberWrites.adjust).
 */
type GroupWrite = { entries: string[] } & ({ ok: true; results: SubscriberChangeResult[]; ownerLeft: number } | { ok: false; error: unknown });

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
