import type { RoomRecord } from '../state/realtime-store';

/**
 * What a notification built on a peer needs from the request that caused
 * it. The host strips everything else (tokens, headers, user) before the
 * cluster sees it.
 */
export interface NoticeRequest {
  data: Record<string, unknown>;
  options: Record<string, unknown>;
}

/** A document notification, as forwarded to peers. */
export interface DocumentNotice {
  rooms: string[];
  request: NoticeRequest;
  scope: string;
  action: string;
  content: unknown;
}

/** A user (join/leave) notification, as forwarded to peers. */
export interface UserNotice {
  room: string;
  request: NoticeRequest;
  scope: string;
  content: unknown;
}

/**
 * What the realtime sync needs from the local server: its filter engine
 * and its delivery to local subscribers. The plugin implements it over
 * Kuzzle's internals; unit tests use a small double.
 */
export interface RealtimeHost {
  /**
   * Stores a room's filters (a no-op when already stored).
   * @throws when the filters are not something the engine can store.
   */
  storeFilter(room: RoomRecord): void;
  removeFilter(roomId: string): void;
  hasFilter(roomId: string): boolean;
  /** A room whose filter the engine holds, with its collection (a room id belongs to one collection for good). */
  storedRoom(roomId: string): RoomRecord | undefined;
  /** Every room in the local filter engine. */
  filters(): Array<{ index: string; collection: string; roomId: string }>;
  /** The rooms of one collection in the local filter engine. */
  filterIds(index: string, collection: string): string[];
  dispatchDocument(notice: DocumentNotice): Promise<void>;
  dispatchUser(notice: UserNotice): Promise<void>;
}
