import type { DocumentNotice, RealtimeHost, UserNotice } from '../sync/realtime-host';
import type { RoomRecord } from '../state/realtime-store';
import { ClusterError } from '../util/cluster-error';
import { isNormalizedFilter } from './koncorde-filters';
import type { KuzzleLike, PluginContextLike } from './kuzzle-types';

/** {@link RealtimeHost} over Kuzzle 2.10's Koncorde instance and realtime asks. */
export class KuzzleRealtimeHost implements RealtimeHost {
  constructor(
    private readonly kuzzle: KuzzleLike,
    private readonly context: PluginContextLike,
  ) {}

  /** @throws ClusterError KPC_BAD_FILTER when the filters are not what Koncorde can store. */
  storeFilter(room: RoomRecord): void {
    if (this.kuzzle.koncorde.hasFilter(room.roomId)) return;
    if (!isNormalizedFilter(room.filters)) {
      throw new ClusterError('KPC_BAD_FILTER', `room ${room.roomId}: its filters are not a normalized Koncorde filter, refused`);
    }
    this.kuzzle.koncorde.store({ index: room.index, collection: room.collection, normalized: room.filters, id: room.roomId });
  }

  removeFilter(roomId: string): void {
    if (this.kuzzle.koncorde.hasFilter(roomId)) this.kuzzle.koncorde.remove(roomId);
  }

  /** A room as Koncorde holds it (its collection and normalized filters), if it does. */
  storedRoom(roomId: string): RoomRecord | undefined {
    const stored = this.kuzzle.koncorde.storage?.filters?.get(roomId);
    return stored ? { index: stored.index, collection: stored.collection, roomId, filters: stored.filters } : undefined;
  }

  hasFilter(roomId: string): boolean {
    return this.kuzzle.koncorde.hasFilter(roomId);
  }

  filters(): Array<{ index: string; collection: string; roomId: string }> {
    const { koncorde } = this.kuzzle;
    const list: Array<{ index: string; collection: string; roomId: string }> = [];
    for (const index of koncorde.getIndexes()) {
      for (const collection of koncorde.getCollections(index)) {
        for (const roomId of koncorde.getFilterIds(index, collection)) list.push({ index, collection, roomId });
      }
    }
    return list;
  }

  filterIds(index: string, collection: string): string[] {
    return this.kuzzle.koncorde.getFilterIds(index, collection) ?? [];
  }

  /** Creates a room in Kuzzle's local room list (for a join or count of a peer's room). */
  async createLocalRoom(index: string, collection: string, roomId: string): Promise<void> {
    await this.kuzzle.ask('core:realtime:room:create', index, collection, roomId);
  }

  async dispatchDocument(notice: DocumentNotice): Promise<void> {
    const request = this.context.constructors.Request(notice.request.data, notice.request.options);
    await this.kuzzle.ask('core:realtime:document:dispatch', notice.rooms, request, notice.scope, notice.action, notice.content);
  }

  async dispatchUser(notice: UserNotice): Promise<void> {
    const request = this.context.constructors.Request(notice.request.data, notice.request.options);
    await this.kuzzle.ask('core:realtime:user:sendMessage', notice.room, request, notice.scope, notice.content);
  }
}
