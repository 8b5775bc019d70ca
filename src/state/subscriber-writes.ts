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
 * this node has not listed for it yet, see GlobalIndex.list), then one
 * script per collection and owner, then one index write for the rooms the
 * batch subscribed the owner to, then the index entries of deleted rooms.
 * Under a burst (a reconnect storm, many clients subscribing at once) a
 * node otherwise spent over a quarter of its CPU in ioredis and its socket
 * writes, two Redis calls per subscription. Each change still gets the
 * room's count right after it. A collection whose script fails fails only
 * its own callers.
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
    const groups = Object.values(groupBy(changes, (change) => `${change.k.ref}\n${change.owner}`));
    // The listing first, confirmed (see GlobalIndex): a script that ran
    // without it would leave a count that neither this node's drift check
    // nor a peer's purge of this owner finds (they look where the owner is
    // listed). So the scripts wait for it, even on one server, where they
    // could go in the same write: both are retried apart, and the listing
    // could give up while the script's last try went through. A failed
    // listing fails the collections with new subscribers, no script run
    // there; the others (unsubscriptions, rooms already counted) are written.
    let listingFailure: { error: unknown } | undefined;
    await Promise.all(
      Object.entries(groupBy(changes.filter(isFresh), (change) => change.owner)).map(([owner, fresh]) =>
        this.index.list(owner, Object.values(groupBy(fresh, (change) => change.k.ref)).map((same) => firstOf(same).k)),
      ),
    ).catch((error: unknown) => (listingFailure = { error }));
    const scripts = await Promise.all(
      groups.map((group) => settle(() => (listingFailure && group.some(isFresh) ? Promise.reject(listingFailure.error) : this.adjust(group)))),
    );
    const entries = await this.writeEntries(groups, scripts);
    const done = await Promise.all(
      groups.map((group, i) =>
        settle(async () => {
          const written = scripts[i] as Outcome<GroupWrite>;
          if (!written.ok) throw written.error;
          const failed = entries.get(firstOf(group).owner);
          if (failed && written.value.entries.length > 0) throw failed.error;
          await this.cleanUp(group, written.value);
          return written.value.results;
        }),
      ),
    );
    const outcomes = new Map<SubscriberChange, Outcome<SubscriberChangeResult>>();
    groups.forEach((group, i) => {
      const outcome = done[i] as Outcome<SubscriberChangeResult[]>;
      group.forEach((change, j) => outcomes.set(change, outcome.ok ? { ok: true, value: outcome.value[j] as SubscriberChangeResult } : outcome));
    });
    return changes.map((change) => outcomes.get(change) as Outcome<SubscriberChangeResult>);
  }

  /** One collection and owner: its script, in calls of at most {@link PER_CALL} changes. */
  private async adjust(group: SubscriberChange[]): Promise<GroupWrite> {
    const { k, owner } = firstOf(group);
    const results: SubscriberChangeResult[] = [];
    let ownerLeft = 0;
    for (const chunk of chunksOf(group, PER_CALL)) {
      const args: Array<string | number> = [owner];
      for (const change of chunk) args.push(change.roomId, change.delta, change.json);
      const reply = asArray(await this.script('adjustSubscribers', k, owner, args), 'adjustSubscribers').map((value) => asInteger(value, 'adjustSubscribers'));
      ownerLeft = reply[0] ?? 0;
      chunk.forEach((_, i) => results.push({ total: reply[1 + 3 * i] ?? 0, created: reply[2 + 3 * i] === 1, removed: reply[3 + 3 * i] === 1 }));
    }
    // Entries for the rooms the owner was added to, and for any room a
    // change created (one the owner already counted in may have been
    // deleted and created again meanwhile): after the script, so that a
    // node removing the entries of rooms of the same ids finds the room
    // when it checks, or writes before this does (see GlobalIndex).
    const entries = group.filter((change, i) => isFresh(change) || results[i]?.created === true).map((change) => change.roomId);
    return { results, ownerLeft, entries };
  }

  /** The entries of every collection's rooms, in one index write per owner; the owners whose write failed, with its error. */
  private async writeEntries(groups: SubscriberChange[][], scripts: Array<Outcome<GroupWrite>>): Promise<Map<string, { error: unknown }>> {
    const byOwner = new Map<string, Array<{ k: CollectionKeys; roomIds: readonly string[] }>>();
    groups.forEach((group, i) => {
      const written = scripts[i];
      if (!written?.ok || written.value.entries.length === 0) return;
      const { k, owner } = firstOf(group);
      let list = byOwner.get(owner);
      if (!list) byOwner.set(owner, (list = []));
      list.push({ k, roomIds: written.value.entries });
    });
    const failures = new Map<string, { error: unknown }>();
    await Promise.all([...byOwner].map(([owner, list]) => this.index.addAll(owner, list).catch((error: unknown) => void failures.set(owner, { error }))));
    return failures;
  }

  /** The index entries of the rooms the group deleted, and the collection unlisted for an owner left with no subscriber there. */
  private async cleanUp(group: SubscriberChange[], written: GroupWrite): Promise<void> {
    const { k, owner } = firstOf(group);
    const removed = group.filter((_, i) => written.results[i]?.removed === true).map((change) => change.roomId);
    if (removed.length > 0) await this.index.removeRooms(k, removed);
    if (written.ownerLeft === 0) await this.index.removeOwnerCollection(k, owner);
  }
}

/** What one collection's script did: each change's result, the owner's subscribers left there, and the rooms to list. */
interface GroupWrite {
  results: SubscriberChangeResult[];
  ownerLeft: number;
  entries: string[];
}

/** A subscription to a room its owner does not count subscribers in yet: its index entries must be written first. */
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

/** The outcome of `run`, never a rejection. */
async function settle<R>(run: () => Promise<R>): Promise<Outcome<R>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}
