import type { CollectionRef, RoomRecord } from '../state/realtime-store';
import type { PendingChange, UserNotice } from '../sync/realtime-host';
import type { RoomList, UserEvent } from '../sync/realtime-sync';

/** What the Kuzzle glue calls for realtime: its events in, cluster-wide answers out. */
export interface RealtimePort {
  enter(room: RoomRecord, connectionId: string): UserEvent;
  leave(roomId: string, connectionId: string): UserEvent;
  subscribed(room: RoomRecord, connectionId: string): Promise<void>;
  unsubscribed(roomId: string, connectionId: string): Promise<void>;
  prepareJoin(roomId: string): Promise<RoomRecord | undefined>;
  hasLocalSubscribers(roomId: string): boolean;
  forwardChange(change: PendingChange): Promise<void>;
  forwardUser(notice: UserNotice): Promise<void>;
  countRoom(roomId: string): Promise<number | undefined>;
  findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined>;
  listRooms(allowed: (ref: CollectionRef) => Promise<boolean>): Promise<RoomList>;
}
