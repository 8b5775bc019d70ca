import type { RealtimePort } from '../cluster/realtime-port';
import type { KuzzleRealtimeHost } from './kuzzle-realtime-host';
import type { KuzzleLike, KuzzleRequestLike, KuzzleUserLike, PluginContextLike, SerializedRequest } from './kuzzle-types';
import { stripRequest } from './strip-request';
import { isObject } from '../util/guards';

/** Values Kuzzle 2.x accepts for a channel's `scope` and `users` (hotelClerk.js, Channel). */
const CHANNEL_VALUES: readonly unknown[] = ['all', 'in', 'out', 'none'];

/**
 * The error Kuzzle's join would raise for these arguments (same id, code
 * and message: `core.realtime.invalid_scope` / `invalid_users`), or
 * undefined when it accepts them.
 */
export function refusedChannelArgument(args: Record<string, unknown>): { message: string; id: string; code: number } | undefined {
  for (const [name, fallback, errorCode] of [['scope', 'all', 4], ['users', 'none', 5]] as const) {
    const value = args[name] === undefined ? fallback : args[name];
    if (!CHANNEL_VALUES.includes(value)) {
      return {
        message: `Invalid value for the "${name}" parameter (allowed: "all", "in", "out", "none").`,
        id: `core.realtime.invalid_${name}`,
        // Kuzzle's kerror: domain core (0) << 24 | subdomain realtime (1) << 16 | error.
        code: (0 << 24) | (1 << 16) | errorCode,
      };
    }
  }
  return undefined;
}

/** Payload of `core:realtime:user:subscribe:after` and `…:join:after`. */
interface SubscriptionDiff {
  index: string;
  collection: string;
  roomId: string;
  connectionId: string;
  filters?: unknown;
}

/** Payload of `core:realtime:user:unsubscribe:after`. */
interface UnsubscriptionPayload {
  requestContext: { connection: { id: string } };
  room: { id: string };
}

/**
 * Translates Kuzzle's realtime events into calls on the cluster's realtime
 * port, and makes `realtime:count`, `realtime:list` and `realtime:join`
 * answer for the whole cluster.
 */
export class RealtimeGlue {
  /** User notifications whose cluster-wide count is being computed, by their content object. */
  private readonly countsInFlight = new WeakMap<object, Promise<void>>();
  /** Subscriptions made with `propagate: false`, by room and connection, until they leave (see {@link staysLocal}). */
  private readonly localOnly = new Set<string>();
  /** Callers of `realtime:list` while Kuzzle computes its own list (see {@link hideLocalList}). */
  private readonly listCallers = new WeakMap<KuzzleRequestLike, KuzzleUserLike>();

  constructor(
    private readonly realtime: RealtimePort,
    private readonly host: KuzzleRealtimeHost,
    private readonly kuzzle: KuzzleLike,
    private readonly context: PluginContextLike,
  ) {}

  async subscribed(diff: SubscriptionDiff): Promise<SubscriptionDiff> {
    let filters = diff.filters;
    if (filters === undefined) {
      // A join does not carry the filters: the engine has them (the join put them there), else the shared state.
      filters = this.host.storedRoom(diff.roomId)?.filters ?? (await this.realtime.findRoom(diff.roomId))?.filters;
      if (filters === undefined) {
        // Only local subscribers that do not propagate (cluster: false) hold this room.
        this.context.log.warn(`room ${diff.roomId} joined on this node only: it has no cluster-wide filter`);
        return diff;
      }
    }
    try {
      await this.realtime.subscribed({ index: diff.index, collection: diff.collection, roomId: diff.roomId, filters }, diff.connectionId);
      // The connection also subscribed to the room in a way that propagates (Kuzzle tells only those): its leave is the cluster's again.
      this.localOnly.delete(localKey(diff.roomId, diff.connectionId));
    } catch (error) {
      // Kuzzle already subscribed the connection: undo it, or it would be
      // notified locally while the cluster does not count it.
      await this.kuzzle.ask('core:realtime:unsubscribe', diff.connectionId, diff.roomId, false).catch(() => undefined);
      throw error;
    }
    return diff;
  }

  async unsubscribed(payload: UnsubscriptionPayload): Promise<UnsubscriptionPayload> {
    await this.realtime.unsubscribed(payload.room.id, payload.requestContext.connection.id);
    return payload;
  }

  /**
   * A user entered or left a room on this node (Kuzzle calls this before it
   * records the subscription): the subscriber is counted in the shared state
   * now, so that the notification, here and on every peer, carries the
   * room's cluster-wide count right after this event, as one Kuzzle would.
   * The content object is the notification's result: it is updated in place
   * and the `notify:user` pipe waits for it.
   */
  async forwardUser(payload: { room: string; request: SerializedRequest; scope: string; content: unknown }): Promise<void> {
    if (this.staysLocal(payload)) return;
    const counted = this.countUserEvent(payload);
    let count: number | undefined;
    if (counted && isObject(payload.content)) {
      const content = payload.content;
      // Not counted (the shared state refused it): the subscription itself reports the error; the count stays local.
      const update = counted.then(
        (total) => {
          count = total;
          if (total !== undefined) content.count = total;
        },
        () => undefined,
      );
      this.countsInFlight.set(content, update);
      await update;
    }
    // Nobody but the subscriber of this event in the room cluster-wide (the
    // count is the shared state's, taken atomically with the event): no
    // peer has anyone to tell.
    if (count !== undefined && count <= (payload.scope === 'in' ? 1 : 0)) return;
    await this.realtime.forwardUser({ ...payload, request: stripRequest(payload.request) });
  }

  /** Pipe `notify:user`: the notification goes out once its cluster-wide count is known. */
  async userNotification(notification: { result?: unknown }): Promise<unknown> {
    const result = notification.result;
    if (isObject(result)) await this.countsInFlight.get(result);
    return notification;
  }

  /**
   * A subscription made with `propagate: false` (the embedded SDK's option)
   * stays this node's own, as in Kuzzle's own cluster: it is counted nowhere
   * cluster-wide and its peers are told neither of its entry nor of its
   * leave (whose request no longer carries the option: the entry is kept
   * until then). Kuzzle notifies it of changes made through this node only.
   */
  private staysLocal(payload: { room: string; request: SerializedRequest; scope: string }): boolean {
    const connectionId = connectionOf(payload.request);
    if (!connectionId) return false;
    const key = localKey(payload.room, connectionId);
    // As Kuzzle's Channel reads it: any value given that is not truthy (a
    // join does not normalise it: `null`, `0`, `""` make a local channel,
    // for which Kuzzle makes no second call either).
    const propagate = payload.request.data.propagate;
    if (payload.scope === 'in' && propagate !== undefined && !propagate) {
      this.localOnly.add(key);
      return true;
    }
    return payload.scope === 'out' && this.localOnly.delete(key);
  }

  private countUserEvent(payload: { room: string; request: SerializedRequest; scope: string }): Promise<number | undefined> | undefined {
    const connectionId = connectionOf(payload.request);
    if (!connectionId) return undefined;
    if (payload.scope === 'out') return this.realtime.leave(payload.room, connectionId).counted;
    // A join names only the room: its collection and filters come from Koncorde.
    const room = this.host.storedRoom(payload.room);
    return room ? this.realtime.enter(room, connectionId).counted : undefined;
  }

  /**
   * A room created on another node must exist in Kuzzle's local room list,
   * with its filter (read from the shared state), before it can be joined
   * (the join then adds its subscriber at once).
   */
  async ensureLocalRoom(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId === 'string' && !(await this.kuzzleHoldsRoom(roomId))) {
      // Refused here as Kuzzle would refuse it, before the room is created:
      // Kuzzle has no way to remove an empty room, and one left behind
      // would keep its filter on this node for good.
      const refused = refusedChannelArgument(request.input.args);
      if (refused) throw new this.context.errors.BadRequestError(refused.message, refused.id, refused.code);
      const room = await this.realtime.prepareJoin(roomId);
      if (room) await this.host.createLocalRoom(room.index, room.collection, roomId);
    }
    return request;
  }

  /**
   * Whether Kuzzle's own room list holds the room: not the node's record
   * of its subscribers, which keeps a room while its last leave waits for
   * a rewrite to end, after Kuzzle dropped it (a join would then answer
   * `room_not_found`).
   */
  private async kuzzleHoldsRoom(roomId: string): Promise<boolean> {
    try {
      await this.kuzzle.ask('core:realtime:room:size:get', roomId);
      return true;
    } catch (error) {
      if (isObject(error) && error.id === 'core.realtime.room_not_found') return false;
      // A Kuzzle without that ask: the node's record stands for it.
      return this.realtime.hasLocalSubscribers(roomId);
    }
  }

  /** `realtime:count` answers with the cluster-wide count. */
  async clusterCount(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId === 'string') {
      const count = await this.realtime.countRoom(roomId);
      if (count !== undefined) request.setResult({ count }, { status: 200 });
    }
    return request;
  }

  /**
   * Kuzzle answers `room_not_found` for a room with no local subscriber:
   * recover with the cluster-wide count when the cluster knows the room.
   * (Creating the room locally instead would leave an empty room in Kuzzle
   * that makes it skip Koncorde for later subscriptions.)
   */
  async countOfRemoteRoom(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId !== 'string' || request.error?.id !== 'core.realtime.room_not_found') return request;
    const count = await this.realtime.countRoom(roomId);
    if (count !== undefined) {
      request.clearError();
      request.setResult({ count }, { status: 200 });
    }
    return request;
  }

  /**
   * `realtime:beforeList`: Kuzzle's own answer (this node's rooms, found by
   * walking every filter the node holds, i.e. every room of the cluster) is
   * replaced by {@link clusterList}'s: for that walk, the caller may see no
   * collection, so it costs nothing. The user comes back in the `after` or
   * `error` step (Kuzzle checked the caller's rights before this step).
   */
  // async: Kuzzle waits for a pipe's promise (or its callback), never for a plain value.
  async hideLocalList(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const user = request.context.user;
    if (user && !this.listCallers.has(request)) {
      this.listCallers.set(request, user);
      request.context.user = Object.create(user, { isActionAllowed: { value: () => Promise.resolve(false) } }) as KuzzleUserLike;
    }
    return request;
  }

  /** `realtime:errorList`: the caller's user back (see {@link hideLocalList}). */
  async listFailed(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    this.restoreListCaller(request);
    return request;
  }

  private restoreListCaller(request: KuzzleRequestLike): void {
    const user = this.listCallers.get(request);
    if (user === undefined) return;
    request.context.user = user;
    this.listCallers.delete(request);
  }

  /** Every room of the cluster on collections the caller may subscribe to, with cluster-wide counts. */
  async clusterList(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    this.restoreListCaller(request);
    const user = request.context.user;
    if (!user) return request;
    const list = await this.realtime.listRooms(({ index, collection }) =>
      user.isActionAllowed(this.context.constructors.Request({ controller: 'realtime', action: 'subscribe', index, collection })),
    );
    request.setResult(list, { status: 200 });
    return request;
  }
}

const localKey = (roomId: string, connectionId: string): string => `${roomId}\n${connectionId}`;

/** The id of the connection a serialized request came through, if any. */
function connectionOf(request: SerializedRequest): string | undefined {
  const connection = request.options.connection;
  return isObject(connection) && typeof connection.id === 'string' ? connection.id : undefined;
}
