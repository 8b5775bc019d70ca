import type { RoomRecord } from '../../src/state/realtime-store';
import type { DocumentNotice, RealtimeHost, UserNotice } from '../../src/sync/realtime-host';

/** The host's filter engine and deliveries, in memory. */
export class FakeHost implements RealtimeHost {
  readonly stored = new Map<string, RoomRecord>();
  readonly documents: DocumentNotice[] = [];
  readonly users: UserNotice[] = [];
  failDispatch = false;

  storeFilter(room: RoomRecord): void {
    if (!this.stored.has(room.roomId)) this.stored.set(room.roomId, room);
  }

  removeFilter(roomId: string): void {
    this.stored.delete(roomId);
  }

  storedRoom(roomId: string): RoomRecord | undefined {
    return this.stored.get(roomId);
  }

  hasFilter(roomId: string): boolean {
    return this.stored.has(roomId);
  }

  filters(): Array<{ index: string; collection: string; roomId: string }> {
    return [...this.stored.values()].map(({ index, collection, roomId }) => ({ index, collection, roomId }));
  }

  filterIds(index: string, collection: string): string[] {
    return this.filters().filter((f) => f.index === index && f.collection === collection).map((f) => f.roomId);
  }

  async dispatchDocument(notice: DocumentNotice): Promise<void> {
    if (this.failDispatch) throw new Error('dispatch failed');
    this.documents.push(notice);
  }

  async dispatchUser(notice: UserNotice): Promise<void> {
    this.users.push(notice);
  }
}
