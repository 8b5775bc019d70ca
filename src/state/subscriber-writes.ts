import type { GlobalIndex } from './global-index';
import type { CollectionKeys } from './keys';
import { asArray, asInteger } from './replies';
import type { ScriptName } from './scripts';
import { chunksOf } from '../util/chunks';
import { TurnBatch } from '../util/turn-batch';

/** Runs one of the collection scripts for an owner (retried and timed by the store). */
export type CollectionScript = (name: ScriptName, k: CollectionKeys, owner: string, args: ReadonlyArray<string | number>) => Promise<unknown>;

export interface SubscriberAdd {
  k: CollectionKeys;
  owner: string;
  roomId: string;
  count: number;
  /** The room's JSON, stored when this creates the room. */
  json: string;
  /** The owner already counts subscribers in the room: its index entries exist. */
  ownerHasRoom: boolean;
}

export interface SubscriberRemove {
  k: CollectionKeys;
  owner: string;
  roomId: string;
  count: number;
}

/** Subscriptions (or unsubscriptions) per script call: each Redis call stays short. */
const PER_CALL = 500;

type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * The subscriptions and unsubscriptions a node makes in one event-loop
 * turn, written together: one index transaction for all the new rooms,
 * then one script per collection and owner. Under a burst (a reconnect
 * storm, many clients subscribing at once) a node otherwise spent a fifth
 * of its CPU building and writing two Redis calls per subscription. Order
 * is kept within a collection, so each event still gets the count right
 * after it. A collection whose script fails fails only its own callers.
 */
export class SubscriberWrites {
  private readonly adds = new TurnBatch<SubscriberAdd, Outcome<{ total: number; created: boolean }>>((items) => this.flushAdds(items));
  private readonly removes = new TurnBatch<SubscriberRemove, Outcome<{ total: number; removed: boolean }>>((items) => this.flushRemoves(items));

  constructor(
    private readonly index: GlobalIndex,
    private readonly script: CollectionScript,
  ) {}

  add(item: SubscriberAdd): Promise<{ total: number; created: boolean }> {
    return this.adds.add(item).then(unwrap);
  }

  remove(item: SubscriberRemove): Promise<{ total: number; removed: boolean }> {
    return this.removes.add(item).then(unwrap);
  }

  private async flushAdds(items: SubscriberAdd[]): Promise<Array<Outcome<{ total: number; created: boolean }>>> {
    // The index first (see GlobalIndex): a script failing after it leaves
    // only harmless stale entries. On one server the scripts are sent in the
    // same turn, behind the index commands, which that server runs first.
    const indexed = Promise.all(
      [...groupBy(items.filter((item) => !item.ownerHasRoom), (item) => item.owner)].map(([owner, group]) =>
        this.index.addAll(owner, [...groupBy(group, (item) => item.k.ref).values()].map((same) => ({ k: firstOf(same).k, roomIds: same.map((item) => item.roomId) }))),
      ),
    );
    if (!this.index.keepsOrder) await indexed;
    else indexed.catch(() => undefined);
    const outcomes = this.writeAdds(items);
    // A failed index write fails every caller, whatever the scripts did (a count without its index entry is drift the repair finds).
    await indexed;
    return outcomes;
  }

  private writeAdds(items: SubscriberAdd[]): Promise<Array<Outcome<{ total: number; created: boolean }>>> {
    return settleGroups(items, async (group) => {
      const { k, owner } = firstOf(group);
      const results: Array<{ total: number; created: boolean }> = [];
      for (const chunk of chunksOf(group, PER_CALL)) {
        const args: Array<string | number> = [owner];
        for (const item of chunk) args.push(item.roomId, item.count, item.json);
        const reply = asArray(await this.script('addSubscribers', k, owner, args), 'addSubscribers');
        chunk.forEach((_, i) => results.push({ total: asInteger(reply[2 * i], 'addSubscribers'), created: asInteger(reply[2 * i + 1], 'addSubscribers') === 1 }));
      }
      return results;
    });
  }

  private flushRemoves(items: SubscriberRemove[]): Promise<Array<Outcome<{ total: number; removed: boolean }>>> {
    return settleGroups(items, async (group) => {
      const { k, owner } = firstOf(group);
      const results: Array<{ total: number; removed: boolean }> = [];
      let ownerLeft = 0;
      for (const chunk of chunksOf(group, PER_CALL)) {
        const args: Array<string | number> = [owner];
        for (const item of chunk) args.push(item.roomId, item.count);
        const reply = asArray(await this.script('removeSubscribers', k, owner, args), 'removeSubscribers').map((value) => asInteger(value, 'removeSubscribers'));
        ownerLeft = reply[0] ?? 0;
        chunk.forEach((_, i) => results.push({ total: reply[1 + 2 * i] ?? 0, removed: reply[2 + 2 * i] === 1 }));
      }
      // The index after the collection (see GlobalIndex).
      const removed = group.filter((_, i) => results[i]?.removed === true).map((item) => item.roomId);
      if (removed.length > 0) await this.index.removeRooms(k, removed);
      if (ownerLeft === 0) await this.index.removeOwnerCollection(k, owner);
      return results;
    });
  }
}

function unwrap<R>(outcome: Outcome<R>): R {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}

function firstOf<T>(list: readonly T[]): T {
  const first = list[0];
  if (first === undefined) throw new Error('empty group');
  return first;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Runs `write` once per collection and owner, in parallel; each item gets its own result, or its group's error. */
async function settleGroups<T extends { k: CollectionKeys; owner: string }, R>(items: T[], write: (group: T[]) => Promise<R[]>): Promise<Array<Outcome<R>>> {
  const outcomes = new Array<Outcome<R>>(items.length);
  const positions = new Map<T, number>(items.map((item, i) => [item, i]));
  const groups = groupBy(items, (item) => `${item.k.ref}\n${item.owner}`);
  await Promise.all(
    [...groups.values()].map(async (group) => {
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
