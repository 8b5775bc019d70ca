import Bluebird from 'bluebird';
import type { Channel, MessageBus, PeerAnswer } from '../bus/message-bus';
import type { BodyOf, BroadcastTypes } from '../bus/message-spec';
import type { CollectionRef, RealtimeStore, RoomRecord, RoomTally } from '../state/realtime-store';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { storeAnnounced } from './announced-rooms';
import { LocalRooms, type LocalRoom } from './local-rooms';
import { MAX_COLLECTIONS_PER_MESSAGE, MAX_ROOMS_PER_MESSAGE, REALTIME_MESSAGES } from './messages';
import type { DocumentNotice, RealtimeHost, UserNotice } from './realtime-host';
import { RealtimeRepair, type Drift } from './realtime-repair';
import { ReloadQueue } from './reload-queue';
import { RoomAnnouncer } from './room-announcer';
import { RoomRemovals } from './room-removals';
import { ReadWriteLock } from './rw-lock';
import { chunksOf } from '../util/chunks';

type Messages = typeof REALTIME_MESSAGES;

/** A subscription or unsubscription, in two steps (see {@link RealtimeSync.enter}). */
export interface UserEvent {
  /** The room's cluster-wide count right after this event; undefined when it could not be counted. */
  counted: Promise<number | undefined>;
  done: Promise<void>;
}

/** How long an event seen early waits for its second call. */
const PENDING_EVENT_MS = 60_000;

const eventKey = (roomId: string, connectionId: string): string => `${roomId}\n${connectionId}`;

export interface RealtimeSyncOptions {
  /** The owner this node's subscribers are stored under (its id and incarnation). */
  owner: () => string;
  /** Ids of the current members. */
  peers: () => string[];
  /** How long a new subscription waits for every peer's acknowledgement. */
  ackTimeoutMs: number;
  log: Log;
}

/** Cluster-wide rooms of the collections a caller may see: index → collection → roomId → subscribers. */
export type RoomList = Record<string, Record<string, Record<string, number>>>;

/**
 * Keeps realtime subscriptions cluster-wide: every node holds every room's
 * filter in its engine (so a change anywhere finds the rooms to notify),
 * the shared state holds who subscribes where, and notifications travel to
 * the nodes that hold the subscribers.
 */
export class RealtimeSync {
  private readonly channel: Channel<Messages>;
  private readonly local: LocalRooms;
  private readonly lock = new ReadWriteLock();
  private readonly repair: RealtimeRepair;
  private readonly reloads: ReloadQueue;
  private localReset: Promise<RoomTally> | undefined;
  private storing: Promise<unknown> = Promise.resolve();
  private readonly announcer: RoomAnnouncer;
  private readonly removals: RoomRemovals;
  /**
   * Rooms whose last local subscriber is leaving: set when a peer announces
   * the room meanwhile (created again elsewhere), so that its filter stays.
   */
  private readonly lastLeaves = new Map<string, Set<{ announcedAgain: boolean }>>();
  /**
   * Set when the node leaves: the host then unsubscribes every client, which
   * the cluster no longer needs to hear (the leave purges them at once).
   */
  private leaving = false;
  private stopped = false;
  /** Events seen early (from a user notification), kept for their second call. */
  private readonly pending = new Map<string, UserEvent>();
  /** Rooms of the shared state whose filters the host refused. */
  badFilters = 0;

  constructor(
    private readonly store: RealtimeStore,
    bus: MessageBus,
    private readonly host: RealtimeHost,
    private readonly options: RealtimeSyncOptions,
  ) {
    this.local = new LocalRooms(host);
    this.removals = new RoomRemovals((ref, roomIds) => this.publish('room:remove', { index: ref.index, collection: ref.collection, roomIds }));
    this.announcer = new RoomAnnouncer((rooms) => this.channel.requestEach(this.options.peers(), 'room:add', { rooms }, this.options.ackTimeoutMs));
    this.repair = new RealtimeRepair(store, host, this.local, this.lock, {
      owner: options.owner,
      publishRemoved: (ref, roomIds) => this.removals.publishAll(ref, roomIds),
      publishRewritten: async (collections) => {
        for (const chunk of chunksOf(collections, MAX_COLLECTIONS_PER_MESSAGE)) await this.publish('state:rewritten', { collections: chunk });
      },
      announce: (roomId) => {
        const room = this.local.get(roomId);
        return room ? this.announceRoom(room) : Promise.resolve();
      },
      badFilter: (roomId, error) => {
        this.badFilters++;
        options.log('error', `room ${roomId} of the shared state not loaded: ${describeError(error)}`);
      },
    });
    this.reloads = new ReloadQueue((ref) => this.repair.reload(ref), () => this.repair.resyncAll(), options.log);
    this.channel = bus.register(REALTIME_MESSAGES, {
      // One batch stored at a time, from all peers together: each yields
      // every few milliseconds, and batches side by side would add up
      // between two turns of the event loop.
      'room:add': ({ rooms }) => this.oneAtATime(() =>
        storeAnnounced(rooms, host, {
          // A room announced again while its last local subscriber leaves keeps its filter.
          announced: (roomId) => {
            for (const leave of this.lastLeaves.get(roomId) ?? []) leave.announcedAgain = true;
          },
          refused: (roomId, error) => {
            this.badFilters++;
            options.log('warn', `room ${roomId} announced with filters this node cannot store: ${describeError(error)}`);
          },
        })),
      'room:remove': ({ roomIds }) => this.roomsRemoved(roomIds),
      'notify:document': (notice) => this.deliverDocument(notice),
      'notify:user': (notice) => this.deliverUser(notice),
      'state:rewritten': ({ collections }) => this.reloads.add(collections),
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
   * the room is live cluster-wide. When the shared state cannot count it,
   * this node forgets it and `done` rejects. Called early by the user
   * notification of the subscription, and again by the subscription itself:
   * the second call gets the same steps.
   */
  enter(room: RoomRecord, connectionId: string): UserEvent {
    const key = eventKey(room.roomId, connectionId);
    const pending = this.pending.get(key);
    if (pending) return pending;
    if (this.leaving) return { counted: Promise.resolve(undefined), done: Promise.resolve() };
    let announce: ((outcome: Promise<void>) => void) | undefined;
    const counting = this.lock.read(async () => {
      const existing = this.local.get(room.roomId);
      if (existing?.customers.has(connectionId)) return { local: existing, total: await this.store.countRoom(room.roomId, existing) };
      const target = existing ?? this.local.create(room, connectionId);
      if (!existing) {
        // Later local subscribers wait for this first one's announcement.
        target.announced = new Promise<void>((resolve) => {
          announce = resolve;
        });
        // A failed announcement is handled by whoever waits on it, if anyone.
        target.announced.catch(() => undefined);
        // The engine may skip storing when it already lists the room (e.g. created for a join).
        this.host.storeFilter(target);
      }
      target.customers.add(connectionId);
      try {
        const { total } = await this.store.addSubscriber(target, this.options.owner(), 1, target.counted);
        target.counted = true;
        return { local: target, total };
      } catch (error) {
        this.local.removeCustomer(room.roomId, connectionId);
        announce?.(Promise.reject(error));
        throw error;
      }
    });
    const done = counting.then(async ({ local }) => {
      if (announce) {
        announce(this.announceRoom(local));
        return local.announced;
      }
      // Answered once the room is live everywhere; if the first subscriber
      // failed before announcing, this one announces it.
      const announced = await local.announced.then(() => true, () => false);
      if (!announced) {
        local.announced = this.announceRoom(local);
        await local.announced;
      }
    });
    return this.track(key, { counted: counting.then(({ total }) => total), done });
  }

  /** The subscription of a connection to a room is done on this node: resolves once the room is live cluster-wide. */
  subscribed(room: RoomRecord, connectionId: string): Promise<void> {
    const event = this.enter(room, connectionId);
    this.pending.delete(eventKey(room.roomId, connectionId));
    return event.done;
  }

  /**
   * A connection leaves a room on this node; as {@link enter}, `counted`
   * resolves with the count left cluster-wide once it is no longer counted.
   */
  leave(roomId: string, connectionId: string): UserEvent {
    const key = eventKey(roomId, connectionId);
    const pending = this.pending.get(key);
    if (pending) return pending;
    if (this.leaving) return { counted: Promise.resolve(undefined), done: Promise.resolve() };
    const lastLeave = { announcedAgain: false };
    const counting = this.lock.read(async () => {
      const local = this.local.removeCustomer(roomId, connectionId);
      if (!local) return { local, total: await this.countRoom(roomId), removed: false };
      if (!this.local.has(roomId)) this.watchLastLeave(roomId, lastLeave);
      if (!local.counted) return { local, total: undefined, removed: false };
      return { local, ...(await this.store.removeSubscriber(local, roomId, this.options.owner())) };
    });
    const done = counting.then(async ({ local, removed }) => {
      // The host kept the filter (see mayDropFilter): it goes once nobody is left cluster-wide.
      if (!local || this.local.has(roomId)) return;
      if (removed) {
        if (!lastLeave.announcedAgain) this.local.dropFilterIfUnused(roomId);
        await this.removals.removed(local, roomId);
      } else if (!local.counted) {
        await this.repair.dropIfGone([roomId]);
      } else {
        // Other nodes still have subscribers: should a host have dropped the
        // filter anyway, changes made through this node must still reach them.
        this.host.storeFilter(local);
      }
    });
    void done.then(
      () => this.unwatchLastLeave(roomId, lastLeave),
      () => this.unwatchLastLeave(roomId, lastLeave),
    );
    return this.track(key, { counted: counting.then(({ total }) => total), done });
  }

  /** A connection left a room on this node. */
  unsubscribed(roomId: string, connectionId: string): Promise<void> {
    const event = this.leave(roomId, connectionId);
    this.pending.delete(eventKey(roomId, connectionId));
    return event.done;
  }

  /** Keeps an event for the second call; one that never comes is forgotten after a while. */
  private track(key: string, event: UserEvent): UserEvent {
    event.counted.catch(() => undefined);
    event.done.catch(() => undefined);
    this.pending.set(key, event);
    setTimeout(() => {
      if (this.pending.get(key) === event) this.pending.delete(key);
    }, PENDING_EVENT_MS).unref();
    return event;
  }

  /**
   * Makes sure every peer has the room's filter before the subscription is
   * acknowledged to the client, so that a change made anywhere right after
   * is notified. A peer that does not answer in time is logged and asked to
   * reload the collection: the heartbeat decides whether it is gone.
   */
  private async announceRoom(room: RoomRecord): Promise<void> {
    const failed = await this.announcer.announce({ index: room.index, collection: room.collection, roomId: room.roomId, filters: room.filters });
    if (failed.length === 0) return;
    for (const { peer, reason } of failed) this.options.log('warn', `room ${room.roomId} not acknowledged by ${peer}: ${reason}`);
    await this.publish('state:rewritten', { collections: [{ index: room.index, collection: room.collection }] }).catch((error: unknown) =>
      this.options.log('warn', `reload request for ${room.index}/${room.collection} not broadcast: ${describeError(error)}`),
    );
  }

  private watchLastLeave(roomId: string, leave: { announcedAgain: boolean }): void {
    const leaves = this.lastLeaves.get(roomId) ?? new Set();
    leaves.add(leave);
    this.lastLeaves.set(roomId, leaves);
  }

  private unwatchLastLeave(roomId: string, leave: { announcedAgain: boolean }): void {
    const leaves = this.lastLeaves.get(roomId);
    if (leaves?.delete(leave) && leaves.size === 0) this.lastLeaves.delete(roomId);
  }

  /**
   * Whether the host may drop a room's filter now that its last local
   * subscriber is leaving. Not for a room the cluster counts here: the
   * leave drops it once no node has subscribers left (otherwise changes
   * made through this node would no longer reach them), without a Redis
   * read now. A room only this node knew (not counted): once the shared
   * state has nobody left in it either.
   */
  async mayDropFilter(roomId: string): Promise<boolean> {
    if (this.local.has(roomId)) return false;
    return (await this.countRoom(roomId)) === undefined;
  }

  /**
   * A peer's document notification reaches the host only for the rooms with
   * subscribers here: the host would find nobody in the others (a peer's
   * notification goes only to subscriptions made with `cluster: true`,
   * which are all in the local rooms) after paying for the lookup.
   */
  private async deliverDocument(notice: DocumentNotice): Promise<void> {
    const rooms = notice.rooms.filter((roomId) => this.local.has(roomId));
    if (rooms.length > 0) await this.host.dispatchDocument(rooms.length === notice.rooms.length ? notice : { ...notice, rooms });
  }

  private async deliverUser(notice: UserNotice): Promise<void> {
    if (this.local.has(notice.room)) await this.host.dispatchUser(notice);
  }

  /** Forwards a local document notification to the peers, {@link MAX_ROOMS_PER_MESSAGE} rooms per message. */
  async forwardDocument(notice: DocumentNotice): Promise<void> {
    for (const rooms of chunksOf(notice.rooms, MAX_ROOMS_PER_MESSAGE)) await this.publish('notify:document', { ...notice, rooms });
  }

  /** Forwards a local user notification (join/leave) to the peers. */
  forwardUser(notice: UserNotice): Promise<void> {
    return this.publish('notify:user', notice);
  }

  /** Cluster-wide subscribers of a room; undefined when the cluster does not know it. */
  countRoom(roomId: string): Promise<number | undefined> {
    // Every node holds every room's filter, with its collection: one Redis read instead of two.
    return this.store.countRoom(roomId, this.host.storedRoom(roomId));
  }

  /** Where a room lives and its filters, for a join of a room created elsewhere. */
  findRoom(roomId: string): Promise<(CollectionRef & { filters: unknown }) | undefined> {
    return this.store.findRoom(roomId);
  }

  /** Every room of the collections `allowed` accepts, with cluster-wide counts; walks in batches. */
  async listRooms(allowed: (ref: CollectionRef) => Promise<boolean>): Promise<RoomList> {
    const list: RoomList = {};
    await Bluebird.each(await this.store.collections(), async (ref) => {
      if (!(await allowed(ref))) return;
      await this.store.scanCounts(ref, (rooms) => {
        for (const room of rooms) {
          if (room.total <= 0) continue;
          const collections = (list[ref.index] ??= {});
          (collections[ref.collection] ??= {})[room.roomId] = room.total;
        }
      });
    });
    return list;
  }

  resyncAll(): Promise<number> {
    return this.repair.resyncAll();
  }

  /** Writes this node's live subscriptions back (see {@link RealtimeRepair.rewrite}). */
  rewrite(previousOwner?: string, scope?: readonly CollectionRef[]): Promise<RoomTally> {
    return this.repair.rewrite(previousOwner, scope);
  }

  /** Asks every peer to write its live subscriptions back (a reset). */
  resetPeers(timeoutMs: number): Promise<Array<PeerAnswer<RoomTally>>> {
    return this.channel.requestEach(this.options.peers(), 'reset:local', {}, timeoutMs);
  }

  purgeOwner(owner: string): Promise<number> {
    return this.repair.purgeOwner(owner);
  }

  findDrift(): Promise<Drift[]> {
    return this.repair.findDrift();
  }

  /** First step of a leave: local unsubscriptions are no longer written (the leave purges them). */
  beginLeave(): void {
    this.leaving = true;
  }

  /** Last step of a leave: nothing is sent any more. */
  stop(): void {
    this.leaving = true;
    this.stopped = true;
  }

  private async roomsRemoved(roomIds: string[]): Promise<void> {
    // `room:remove` (broadcast) and `room:add` (request) travel on different
    // sockets: if a room was created again meanwhile, the state knows it.
    await this.repair.dropIfGone(roomIds);
  }

  /** Runs `work` after the work queued before it. */
  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const run = this.storing.then(work);
    this.storing = run.catch(() => undefined);
    return run;
  }

  private async publish<T extends BroadcastTypes<Messages>>(type: T, body: BodyOf<Messages[T]>): Promise<void> {
    if (this.stopped) return;
    await this.channel.publish(type, body);
  }
}

export type { LocalRoom, Drift };
