import type { NormalizedFilters, SerializedRequest } from '../plugin/kuzzle-types';

/** A room as the cluster shares it. */
export interface RoomDescriptor {
  index: string;
  collection: string;
  roomId: string;
  filters: NormalizedFilters;
}

/** A document notification as a peer receives it (no JWT, no headers). */
export interface DocumentNotice {
  rooms: string[];
  request: SerializedRequest;
  scope: string;
  action: string;
  content: unknown;
}

/** A user (join/leave) notification as a peer receives it. */
export interface UserNotice {
  room: string;
  request: SerializedRequest;
  scope: string;
  content: unknown;
}

/**
 * What the realtime sync needs from the local Kuzzle: its Koncorde filters and
 * its delivery to local subscribers. The plugin glue implements it over
 * Kuzzle's internals; unit tests use a small double.
 */
export interface RealtimeHost {
  storeFilter(room: RoomDescriptor): void;
  removeFilter(roomId: string): void;
  hasFilter(roomId: string): boolean;
  /** Every room in the local Koncorde. */
  filters(): Array<{ index: string; collection: string; roomId: string }>;
  /** Creates the room in Kuzzle's local room list (for join/count of a peer's room). */
  createLocalRoom(index: string, collection: string, roomId: string): Promise<void>;
  dispatchDocument(notice: DocumentNotice): Promise<void>;
  dispatchUser(notice: UserNotice): Promise<void>;
}
