import type { CollectionRef, RoomRecord } from '../../src/state/realtime-store';
import type { ChangeNotice, RealtimeHost, UserNotice } from '../../src/sync/realtime-host';

/** The host's filter engine and deliveries, in memory: a change reaches it when a stored room is on its collection. */
export class FakeHost implements RealtimeHost {
  readonly stored = new Map<string, RoomRecord>();
  readonly changes: ChangeNotice[] = [];
  readonly users: UserNotice[] = [];
  failDispatch = false;
  /** A document id whose change the host throws on at once (as a request it cannot rebuild). */
  throwOn: string | undefined;
  /** While set, changes wait for it before they are delivered. */
  gate: Promise<void> | undefined;

  storeFilter(room: RoomRecord): void {
    if (!Array.isArray(room.filters)) throw new Error(`room ${room.roomId}: not a filter`);
    if (!this.stored.has(room.roomId)) this.stored.set(room.roomId, room);
  }

  /** Collections this node started ("+") and stopped ("-") listening to, in order. */
  readonly listening: string[] = [];

  startedListening(ref: CollectionRef): void {
    this.listening.push(`+${ref.index}/${ref.collection}`);
  }

  stoppedListening(ref: CollectionRef): void {
    this.listening.push(`-${ref.index}/${ref.collection}`);
  }

  storedRoom(roomId: string): RoomRecord | undefined {
    return this.stored.get(roomId);
  }

  hasFilter(roomId: string): boolean {
    return this.stored.has(roomId);
  }

  applyChange(change: ChangeNotice): Promise<void> | undefined {
    if (![...this.stored.values()].some((room) => room.index === change.index && room.collection === change.collection)) return undefined;
    if (this.throwOn !== undefined && change.documents.some((doc) => doc._id === this.throwOn)) throw new Error('cannot rebuild the request');
    if (this.failDispatch) return Promise.reject(new Error('dispatch failed'));
    const gate = this.gate;
    if (!gate) {
      this.changes.push(change);
      return Promise.resolve();
    }
    return gate.then(() => {
      this.changes.push(change);
    });
  }

  async dispatchUser(notice: UserNotice): Promise<void> {
    this.users.push(notice);
  }
}
