import Bluebird from 'bluebird';
import type { Channel, MessageBus, PeerAnswer } from '../bus/message-bus';
import type { Sender } from '../bus/message-spec';
import type { CollectionRef, RealtimeStore, RoomRecord, RoomTally } from '../state/realtime-store';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { LocalRooms, type LocalRoom } from './local-rooms';
import { MAX_INTEREST_LIST, REALTIME_MESSAGES } from './messages';
import { ChangeRelay, type ChangeCounts } from './change-relay';
import { InterestExchange } from './interest-exchange';
import { PendingEvents } from './pending-events';
import type { PendingChange, RealtimeHost, UserNotice } from './realtime-host';
import { RealtimeRepair, type Drift } from './realtime-repair';
import { ReadWriteLock } from './rw-lock';

type Messages = typeof REALTIME_MESSAGES;

/** A subscription or unsubscription, in two steps (see {@link RealtimeSync.enter}). */
export interface UserEvent {
  /** The room's cluster-wide count right after this event; undefined when it could not be counted. */
  counted: Promise<number | undefined>;
  done: Promise<void>;
}

/**
 * Whose early event a call gets: an entry and a leave of the same
 * connection and room are two events (a client dropping while its
 * subscription is under way must not get the subscription's event back).
 */
const eventKey = (kind: 'in' | 'out', roomId: string, connectionId: string): string => `${kind}\n${roomId}\n${connectionId}`;

/** An event whose failure its caller may never read (the second call can be missing): never an unhandled rejection. */
function handled(event: UserEvent): UserEvent {
  event.counted.catch(() => undefined);
  event.done.catch(() => undefined);
  return event;
}

export interface RealtimeSyncOptions {
  /** The owner this node's subscribers are stored under (its id and incarnation). */
  owner: () => string;
  /** The current members, with their incarnations. */
  peers: () => Sender[];
  /** How long the first subscription of a collection here waits for every peer to record it. */
  ackTimeoutMs: number;
  log: Log;
}

/** Cluster-wide rooms of the collections a caller may see: index → collection → roomId → subscribers. */
export type RoomList = Record<string, Record<string, Record<string, number>>>;

/**
 * Keeps realtime subscriptions cluster-wide. A node holds only the filters
 * of its own subscribers (and of rooms its clients joined); the shared
 * state holds every room with who subscribes where. A change made through
 * a node goes once to its peers, and each matches it against its own
 * filters: a subscription costs its own node and Redis, never the peers.
 * Peers only learn which collections a node listens to (its first room
 * in one, its last one leaving), so that a change nobody listens to
 * anywhere is not sent at all.
 */
export class RealtimeSync {
  private readonly channel: Channel<Messages>;
  private readonly local: LocalRooms;
  private readonly lock = new ReadWriteLock();
  private readonly repair: RealtimeRepair;
  private localReset: Promise<RoomTally> | undefined;
  /**
   * Set when the node leaves: the host then unsubscribes every client, which
   * the cluster no longer needs to hear (the leave purges them at once).
   */
  private leaving = false;
  private stopped = false;
  /** Events seen early (from a user notification), kept for their second call. */
  private readonly pending = new PendingEvents<UserEvent>();
  /** Rooms of the shared state whose filters the host refused (a join of such a room fails). */
  badFilters = 0;
  private readonly interests: InterestExchange;
  private readonly relay: ChangeRelay;

  constructor(
    private readonly store: RealtimeStore,
    bus: MessageBus,
    private readonly host: RealtimeHost,
    private readonly options: RealtimeSyncOptions,
  ) {
    this.local = new LocalRooms();
    this.repair = new RealtimeRepair(store, this.local, this.lock, options.owner, () => this.leaving);
    this.interests = new InterestExchange(() => this.channel, {
      peers: options.peers,
      ackTimeoutMs: options.ackTimeoutMs,
      log: options.log,
      stopped: () => this.stopped,
      listens: (ref) => this.local.listensTo(ref),
      self: options.owner,
    });
    this.relay = new ChangeRelay(host, {
      channel: () => this.channel,
      recipients: (ref) => this.interests.recipients(ref),
      stopped: () => this.stopped,
      log: options.log,
    });
    this.channel = bus.register(REALTIME_MESSAGES, {
      'change:documents': (change) => this.relay.receive(change),
      'notify:user': (notice) => this.deliverUser(notice),
      'interest:add': (ref, sender) => this.interests.added(sender, ref),
      'interest:remove': (ref, sender) => this.interests.removed(sender, ref),
      'interest:list': ({ after }) => this.local.collectionPage(after, MAX_INTEREST_LIST),
      // Two resets asked at once (from two nodes) share one rewrite.
      'reset:local': () => (this.localReset ??= this.repair.rewrite().finally(() => (this.localReset = undefined))),
    });
  }

  /** Rooms and subscribers of this node. */
  localCounts(): RoomTally {
    return this.local.counts();
  }

  hasLocalSubscribers(roomId: string): boolean {
    return this.local.has(roomId);
  }

  /**
   * A connection enters a room on this node. Two steps: `counted` resolves
   * with the room's cluster-wide count once this subscriber is counted (the
   * count a user notification must carry: each event gets its own, in the
   * order the shared state applied them, as one Kuzzle would); `done` once
   * the subscription is live cluster-wide: the filter is in this node's
   * engine and, for the first room of its collection here, every peer has
   * recorded that this node listens there (so it sends its changes). When
   * the shared state cannot count it, this node forgets it and both reject.
   * Called first, by the user notification of the subscription: always a
   * new event, kept for {@link subscribed}, the subscription's own call,
   * which gets the same steps. Kuzzle makes that second call only for the
   * subscriptions it tells its cluster about, so a second call can be
   * missing, and an event kept from an earlier subscription of the same
   * connection to the same room must never stand for a new one: it would
   * be counted nowhere.
   */
  enter(room: RoomRecord, connectionId: string): UserEvent {
    return this.track(eventKey('in', room.roomId, connectionId), this.entering(room, connectionId));
  }

  private entering(room: RoomRecord, connectionId: string): UserEvent {
    if (this.leaving) return { counted: Promise.resolve(undefined), done: Promise.resolve() };
    // Now, not once the lock is ours: while a rewrite holds it, the client
    // may leave and the host drop the room's filter with it; storing it
    // after that would leave a filter nobody removes. (Kuzzle has stored
    // it already: this only stores what a caller without an engine of its
    // own, or a room created for a join, still lacks.)
    try {
      if (!this.local.has(room.roomId)) this.host.storeFilter(room);
    } catch (error) {
      const refused = Promise.reject(error);
      return { counted: refused, done: refused.then(() => undefined) };
    }
    const counting = this.lock.read(async () => {
      const existing = this.local.get(room.roomId);
      if (existing?.customers.has(connectionId)) return this.store.countRoom(room.roomId, existing);
      const target = existing ?? this.local.create(room, connectionId, this.announce);
      target.customers.add(connectionId);
      try {
        const { total } = await this.store.addSubscriber(target, this.options.owner(), 1, target.counted);
        target.counted = true;
        return total;
      } catch (error) {
        this.local.removeCustomer(room.roomId, connectionId, this.withdraw);
        throw error;
      }
    });
    return { counted: counting, done: counting.then(() => this.local.announced(room)) };
  }

  /** This node's first room of a collection: peers start sending its changes. */
  private readonly announce = (ref: CollectionRef): Promise<void> => {
    this.host.startedListening(ref);
    return this.interests.announce(ref);
  };

  /** This node's last room of a collection is gone: peers stop sending its changes. */
  private readonly withdraw = (ref: CollectionRef): void => {
    this.interests.withdraw(ref);
    this.host.stoppedListening(ref);
  };

  /** The subscription of a connection to a room is done on this node: resolves once it is live cluster-wide. */
  subscribed(room: RoomRecord, connectionId: string): Promise<void> {
    const key = eventKey('in', room.roomId, connectionId);
    // Another channel of a connection already counted in the room (Kuzzle
    // sent no user notification for it): nothing to write, and nothing that
    // may fail, since a failure makes the glue undo the subscription, which
    // would take the connection's working channels out of the room too.
    // It still waits, as the first channel does, until peers know this node
    // listens to the collection (which never fails).
    if (this.pending.get(key) === undefined && this.local.get(room.roomId)?.customers.has(connectionId) === true) return this.local.announced(room);
    return this.secondCall(key, () => this.entering(room, connectionId)).done;
  }

  /**
   * A connection leaves a room on this node; as {@link enter}, `counted`
   * resolves with the count left cluster-wide once it is no longer counted.
   * The host drops the filter itself with the room's last local subscriber.
   * Kuzzle makes the second call ({@link unsubscribed}) for some leaves
   * only (not when it undoes a subscription without notifying).
   */
  leave(roomId: string, connectionId: string): UserEvent {
    return this.track(eventKey('out', roomId, connectionId), this.leavingRoom(roomId, connectionId));
  }

  private leavingRoom(roomId: string, connectionId: string): UserEvent {
    if (this.leaving) return { counted: Promise.resolve(undefined), done: Promise.resolve() };
    const counting = this.lock.read(async () => {
      const local = this.local.removeCustomer(roomId, connectionId, this.withdraw);
      if (!local) return this.countRoom(roomId);
      // Even when its entry is still being written: the store writes a
      // node's changes in the order they were made, so this one comes after.
      return (await this.store.removeSubscriber(local, roomId, this.options.owner())).total;
    });
    return { counted: counting, done: counting.then(() => undefined) };
  }

  /** A connection left a room on this node. */
  unsubscribed(roomId: string, connectionId: string): Promise<void> {
    return this.secondCall(eventKey('out', roomId, connectionId), () => this.leavingRoom(roomId, connectionId)).done;
  }

  /** The event the first call started, taken once; a new one when there was no first call. */
  private secondCall(key: string, start: () => UserEvent): UserEvent {
    const event = this.pending.get(key) ?? handled(start());
    this.pending.forget(key);
    return event;
  }

  /** Keeps an event for the second call; one that never comes is forgotten after a while. */
  private track(key: string, event: UserEvent): UserEvent {
    const kept = handled(event);
    this.pending.set(key, kept, kept.done);
    return event;
  }

  /**
   * A room created on another node, for a join here: its filter, read from
   * the shared state, goes into this node's engine. Undefined when the
   * cluster does not know the room (or its filter cannot be stored).
   */
  async prepareJoin(roomId: string): Promise<RoomRecord | undefined> {
    // Still recorded here while its last leave waits for the lock: the host may have dropped its filter already.
    let room: RoomRecord | undefined = this.local.get(roomId);
    if (!room) {
      const found = await this.store.findRoom(roomId);
      if (!found) return undefined;
      room = { ...found, roomId };
    }
    try {
      this.host.storeFilter(room);
    } catch (error) {
      this.badFilters++;
      this.options.log('error', `room ${roomId} of the shared state cannot be joined here: ${describeError(error)}`);
      return undefined;
    }
    return room;
  }

  /** Changes made through this node, and what happened to those peers sent it. */
  get changes(): ChangeCounts {
    return this.relay.counts;
  }

  /** Sends a change made through this node to the peers that listen (see {@link ChangeRelay.forward}). */
  forwardChange(change: PendingChange): Promise<void> {
    return this.relay.forward(change);
  }

  private async deliverUser(notice: UserNotice): Promise<void> {
    if (this.local.has(notice.room)) await this.host.dispatchUser(notice);
  }

  /**
   * Forwards a local user notification (join/leave) to the peers that may
   * hold subscribers of its room: those listening to the room's collection.
   */
  async forwardUser(notice: UserNotice): Promise<void> {
    if (this.stopped) return;
    const room = this.local.get(notice.room) ?? this.host.storedRoom(notice.room);
    // Without the room's collection here (its last subscriber here left), any peer may hold subscribers.
    const to = room ? this.interests.recipients(room) : { peers: this.interests.peerIds(), all: true };
    if (to.peers.length === 0) return;
    if (to.all) await this.channel.publish('notify:user', notice);
    else await this.channel.publishTo(to.peers, 'notify:user', notice);
  }

  /** Cluster-wide subscribers of a room; undefined when the cluster does not know it. */
  countRoom(roomId: string): Promise<number | undefined> {
    // A room held here comes with its collection: one Redis read instead of two.
    return this.store.countRoom(roomId, this.host.storedRoom(roomId));
  }

  /** Where a room lives and its filters. */
  findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined> {
    return this.store.findRoom(roomId);
  }

  /** Every room of the collections `allowed` accepts, with cluster-wide counts; walks in batches. */
  async listRooms(allowed: (ref: CollectionRef) => Promise<boolean>): Promise<RoomList> {
    // Index and collection names come from clients ("__proto__" is one Kuzzle
    // accepts): every level is a table without a prototype.
    const table = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;
    const list = table<Record<string, Record<string, number>>>();
    await Bluebird.each(await this.store.collections(), async (ref) => {
      if (!(await allowed(ref))) return;
      await this.store.scanCounts(ref, (rooms) => {
        for (const room of rooms) {
          if (room.total <= 0) continue;
          const collections = (list[ref.index] ??= table());
          (collections[ref.collection] ??= table())[room.roomId] = room.total;
        }
      });
    });
    return list;
  }

  /** Writes this node's live subscriptions back (see {@link RealtimeRepair.rewrite}). */
  rewrite(previousOwners?: readonly string[], scope?: readonly CollectionRef[]): Promise<RoomTally> {
    return this.repair.rewrite(previousOwners, scope);
  }

  /** Asks every peer to write its live subscriptions back (a reset). */
  resetPeers(timeoutMs: number): Promise<Array<PeerAnswer<RoomTally>>> {
    return this.channel.requestEach(this.interests.peerIds(), 'reset:local', {}, timeoutMs);
  }

  purgeOwner(owner: string): Promise<number> {
    return this.repair.purgeOwner(owner);
  }

  findDrift(): Promise<Drift[]> {
    return this.repair.findDrift();
  }

  /** See RealtimeRepair.restoreEntries. */
  restoreEntries(): Promise<number> {
    return this.repair.restoreEntries();
  }

  /** First step of a leave: local unsubscriptions are no longer written (the leave purges them). */
  beginLeave(): void {
    this.leaving = true;
  }

  /** Second step of a leave: this node's subscribers are removed from the shared state (see {@link RealtimeRepair.purgeSelf}). */
  purgeOwnSubscribers(): Promise<number> {
    return this.repair.purgeSelf();
  }

  /** Last step of a leave: nothing is sent any more. */
  stop(): void {
    this.leaving = true;
    this.stopped = true;
    this.pending.stop();
  }
}

export type { LocalRoom, Drift };
