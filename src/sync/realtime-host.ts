import type { CollectionRef, RoomRecord } from '../state/realtime-store';
import type { ChangeAction } from './messages';

/**
 * What a notification built on a peer needs from the request that caused
 * it. The host strips everything else (tokens, headers, user) before the
 * cluster sees it.
 */
export interface NoticeRequest {
  data: Record<string, unknown>;
  options: Record<string, unknown>;
}

/**
 * Documents changed (or a message published) through a node, as it sends
 * them to its peers: each peer matches them against its own filters, so a
 * node holds only the filters of its own subscribers.
 */
export interface ChangeNotice {
  index: string;
  collection: string;
  action: ChangeAction;
  /** The request that made the change; for a publish (or a document without its source) it carries the body to match. */
  request: NoticeRequest;
  /** The documents as the origin's notifier got them (`_id`, `_source`, `_updatedFields`, `created`); none for a publish. */
  documents: Array<Record<string, unknown>>;
}

/**
 * A change made through this node, before it is known whether any peer
 * listens: its request is serialized only for a change that is sent.
 */
export interface PendingChange extends Omit<ChangeNotice, 'request'> {
  request: () => NoticeRequest;
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
  /** A room whose filter the engine holds, with its collection (a room id belongs to one collection for good). */
  storedRoom(roomId: string): RoomRecord | undefined;
  /**
   * Notifies this node's subscribers of a peer's change, matched against
   * this node's filters; undefined, at once, when the node holds no filter
   * in the change's collection.
   */
  applyChange(change: ChangeNotice): Promise<void> | undefined;
  dispatchUser(notice: UserNotice): Promise<void>;
  /**
   * This node's first room of the collection: peers start sending its
   * changes. What the host remembered of earlier changes (the rooms each
   * document matched) missed those peers made while it did not listen, and
   * must not be read again.
   */
  startedListening(ref: CollectionRef): void;
  /** This node's last room of the collection is gone: peers stop sending its changes. */
  stoppedListening(ref: CollectionRef): void;
}
