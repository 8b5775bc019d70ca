import type { ChangeNotice, RealtimeHost, UserNotice } from '../sync/realtime-host';
import type { CollectionRef, RoomRecord } from '../state/realtime-store';
import { ClusterError } from '../util/cluster-error';
import { isNormalizedFilter } from './koncorde-filters';
import type { KuzzleLike, PluginContextLike } from './kuzzle-types';
import type { LocalNotifier } from './local-notifier';

/** {@link RealtimeHost} over Kuzzle 2.10's Koncorde instance and realtime asks. */
export class KuzzleRealtimeHost implements RealtimeHost {
  constructor(
    private readonly kuzzle: KuzzleLike,
    private readonly context: PluginContextLike,
    private readonly notifier: LocalNotifier,
  ) {}

  /** @throws ClusterError KPC_BAD_FILTER when the filters are not what Koncorde can store, or not the room's. */
  storeFilter(room: RoomRecord): void {
    if (this.kuzzle.koncorde.hasFilter(room.roomId)) return;
    if (!isNormalizedFilter(room.filters)) {
      throw new ClusterError('KPC_BAD_FILTER', `room ${room.roomId}: its filters are not a normalized Koncorde filter, refused`);
    }
    // A room id is the hash of its collection and filters (Kuzzle 2.9 and
    // 2.10 hash with one fixed seed): one that does not match was altered
    // in Redis, and a join would listen to what a Redis writer chose, on
    // any collection.
    const id = this.kuzzle.koncorde.storage?.getFilterId?.(room.index, room.collection, room.filters);
    if (id !== undefined && id !== room.roomId) {
      throw new ClusterError(
        'KPC_BAD_FILTER',
        `room ${room.roomId}: its collection and filters hash to another id (altered in Redis), refused`,
      );
    }
    this.kuzzle.koncorde.store({ index: room.index, collection: room.collection, normalized: room.filters, id: room.roomId });
  }

  /** A room as Koncorde holds it (its collection and normalized filters), if it does. */
  storedRoom(roomId: string): RoomRecord | undefined {
    const stored = this.kuzzle.koncorde.storage?.filters?.get(roomId);
    return stored ? { index: stored.index, collection: stored.collection, roomId, filters: stored.filters } : undefined;
  }

  startedListening(ref: CollectionRef): void {
    this.notifier.forget(ref.index, ref.collection);
  }

  stoppedListening(ref: CollectionRef): void {
    // Filters left there (subscriptions that do not propagate, a room coming
    // while this one left) hear this node's own changes still: their lists
    // stay until peers are heard again (startedListening).
    if (!this.kuzzle.koncorde.exists(ref.index, ref.collection)) this.notifier.forget(ref.index, ref.collection);
  }

  /** Creates a room in Kuzzle's local room list (for a join or count of a peer's room). */
  async createLocalRoom(index: string, collection: string, roomId: string): Promise<void> {
    await this.kuzzle.ask('core:realtime:room:create', index, collection, roomId);
  }

  /** A peer's change: the request is rebuilt only when a filter of this node is on the collection. */
  applyChange(change: ChangeNotice): Promise<void> | undefined {
    return this.notifier.notify(change, () => this.context.constructors.Request(change.request.data, change.request.options), false);
  }

  async dispatchUser(notice: UserNotice): Promise<void> {
    const request = this.context.constructors.Request(notice.request.data, notice.request.options);
    await this.kuzzle.ask('core:realtime:user:sendMessage', notice.room, request, notice.scope, notice.content);
  }
}
