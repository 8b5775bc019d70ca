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
 * it): one index update for all the new rooms, then one script per
 * collection and owner, then the index entries of deleted rooms. Under a
 * burst (a reconnect storm, many clients subscribing at once) a node
 * otherwise spent over a quarter of its CPU in ioredis and its socket
 * writes, two Redis calls per subscription. Each change still gets the
 * room's count right after it. A collection whose script fails fails only
 * its own callers.
 */
export class SubscriberWrites {
  private readonly batch = new TurnBatch<SubscriberChange, Outcome<SubscriberChangeResult>>((changes) => this.flush(changes));

  constructor(
    private readonly index: Pick<GlobalIndex, 'addAll' | 'relistCreated' | 'removeRooms' | 'removeOwnerCollection'>,
    private readonly script: CollectionScript,
  ) {}

  write(change: SubscriberChange): Promise<SubscriberChangeResult> {
    return this.batch.add(change).then(unwrap);
  }

  private async flush(changes: SubscriberChange[]): Promise<Array<Outcome<SubscriberChangeResult>>> {
    // The index first, confirmed (see GlobalIndex): a script failing after
    // it leaves only harmless stale entries, while a script that ran without
    // its entries would leave a count that neither this node's drift check
    // nor a peer's purge of this owner finds (they look where the owner is
    // listed). So the scripts wait for it, even on one server, where they
    // could go in the same write: both are retried apart, and the index
    // could give up while the script's last try went through. A failed
    // index write fails the collections with new rooms, no script run there;
    // the others (unsubscriptions, rooms already indexed) are written.
    const fresh = changes.filter(isFresh);
    let indexFailure: { error: unknown } | undefined;
    await Promise.all(
      Object.entries(groupBy(fresh, (change) => change.owner)).map(([owner, group]) =>
        this.index.addAll(owner, Object.values(groupBy(group, (change) => change.k.ref)).map((same) => ({ k: firstOf(same).k, roomIds: same.map((change) => change.roomId) }))),
      ),
    ).catch((error: unknown) => (indexFailure = { error }));
    return settleGroups(changes, (group) => {
      if (indexFailure && group.some(isFresh)) return Promise.reject(indexFailure.error);
      return this.writeGroup(group);
    });
  }

  /** One collection and owner: the script, then the index entries of the rooms it created again and of those it deleted (see GlobalIndex). */
  private async writeGroup(group: SubscriberChange[]): Promise<SubscriberChangeResult[]> {
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
    const created = group.filter((_, i) => results[i]?.created === true).map((change) => change.roomId);
    if (created.length > 0) await this.index.relistCreated(k, created, owner);
    const removed = group.filter((_, i) => results[i]?.removed === true).map((change) => change.roomId);
    if (removed.length > 0) await this.index.removeRooms(k, removed);
    if (ownerLeft === 0) await this.index.removeOwnerCollection(k, owner);
    return results;
  }
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

/** Runs `write` once per collection and owner, in parallel; each item gets its own result, or its group's error. */
async function settleGroups<T extends { k: CollectionKeys; owner: string }, R>(items: T[], write: (group: T[]) => Promise<R[]>): Promise<Array<Outcome<R>>> {
  const outcomes = new Array<Outcome<R>>(items.length);
  const positions = new Map<T, number>(items.map((item, i) => [item, i]));
  const groups = groupBy(items, (item) => `${item.k.ref}\n${item.owner}`);
  await Promise.all(
    Object.values(groups).map(async (group) => {
      try {
        const results = await write(group);
        group.forEach((item, i) => (outcomes[positions.get(item) ?? 0] = { ok: true, value: results[i] as R }));
      } catch (error) {
        for (const item of group) outcomes[positions.get(item) ?? 0] = { ok: false, error };
      }
    }),
  );
  return outcomes;
}
