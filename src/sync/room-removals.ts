import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';
import { chunksOf } from '../util/chunks';
import { TurnBatch } from '../util/turn-batch';
import { MAX_ROOMS_PER_MESSAGE } from './messages';

/** Sends one `room:remove` for these rooms of one collection. */
export type PublishRemoved = (ref: CollectionRef, roomIds: string[]) => Promise<void>;

/**
 * Tells the peers which rooms are gone cluster-wide: the rooms removed in
 * one turn of the event loop travel together, one `room:remove` per
 * collection and {@link MAX_ROOMS_PER_MESSAGE} rooms.
 */
export class RoomRemovals {
  private readonly batch = new TurnBatch<CollectionRef & { roomId: string }, void>(async (rooms) => {
    const byCollection = new Map<string, CollectionRef & { roomIds: string[] }>();
    for (const { index, collection, roomId } of rooms) {
      const key = encodeCollectionRef(index, collection);
      const entry = byCollection.get(key) ?? { index, collection, roomIds: [] };
      entry.roomIds.push(roomId);
      byCollection.set(key, entry);
    }
    for (const { roomIds, ...ref } of byCollection.values()) await this.publishAll(ref, roomIds);
    return rooms.map((): void => undefined);
  });

  constructor(private readonly publish: PublishRemoved) {}

  /** Resolves once the removal of this room was broadcast (with those of the same turn). */
  removed(ref: CollectionRef, roomId: string): Promise<void> {
    return this.batch.add({ index: ref.index, collection: ref.collection, roomId });
  }

  /** Any number of rooms, in as many messages as the bound needs. */
  async publishAll(ref: CollectionRef, roomIds: readonly string[]): Promise<void> {
    for (const chunk of chunksOf(roomIds, MAX_ROOMS_PER_MESSAGE)) await this.publish(ref, chunk);
  }
}
