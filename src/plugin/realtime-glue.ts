import type { RealtimePort } from '../cluster/realtime-port';
import type { KuzzleRealtimeHost } from './kuzzle-realtime-host';
import type { KuzzleLike, KuzzleRequestLike, KuzzleUserLike, PluginContextLike, SerializedRequest } from './kuzzle-types';
import { stripRequest } from './strip-request';
import { describeError } from '../util/describe-error';
import { isObject } from '../util/guards';
import type { KuzzleRealtimeAnswers } from './realtime-queries';

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
   * `realtime:join`: a room created on another node must exist in Kuzzle's
   * local room list, with its filter (read from the shared state), before
   * Kuzzle's join can add the subscriber.
   */
  async join(request: KuzzleRequestLike, kuzzle: KuzzleRealtimeAnswers): Promise<unknown> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId === 'string' && !(await this.kuzzleHoldsRoom(roomId, kuzzle))) {
      // Refused here as Kuzzle would refuse it, before the room is created:
      // Kuzzle has no way to remove an empty room, and one left behind
      // would keep its filter on this node for good.
      const refused = refusedChannelArgument(request.input.args);
      if (refused) throw new this.context.errors.BadRequestError(refused.message, refused.id, refused.code);
      const room = await this.realtime.prepareJoin(roomId);
      if (room) await this.host.createLocalRoom(room.index, room.collection, roomId);
    }
    return kuzzle.join(request);
  }

  /**
   * Whether Kuzzle's own room list holds the room: not the node's record
   * of its subscribers, which keeps a room while its last leave waits for
   * a rewrite to end, after Kuzzle dropped it (a join would then answer
   * `room_not_found`).
   */
  private async kuzzleHoldsRoom(roomId: string, kuzzle: KuzzleRealtimeAnswers): Promise<boolean> {
    try {
      await kuzzle.roomSize(roomId);
      return true;
    } catch (error) {
      if (isObject(error) && error.id === 'core.realtime.room_not_found') return false;
      return this.realtime.hasLocalSubscribers(roomId);
    }
  }

  /**
   * `realtime:count`: the cluster-wide count of a room the cluster knows;
   * else Kuzzle's own (a room of subscriptions that do not propagate, or
   * `room_not_found`). When the shared state does not answer, this node's
   * own count (logged), as one Kuzzle would still answer.
   */
  async count(roomId: string, kuzzle: KuzzleRealtimeAnswers): Promise<number> {
    let total: number | undefined;
    try {
      total = await this.realtime.countRoom(roomId);
    } catch (error) {
      this.context.log.warn(`[cluster] realtime:count of room ${roomId} answered with this node's own count: the shared state did not answer (${describeError(error)})`);
    }
    return total ?? kuzzle.roomSize(roomId);
  }

  /**
   * `realtime:list`: every room of the cluster on collections the caller may
   * subscribe to, with cluster-wide counts. When the shared state does not
   * answer, Kuzzle's own list of this node's rooms (logged).
   */
  async list(user: KuzzleUserLike | null | undefined, kuzzle: KuzzleRealtimeAnswers): Promise<unknown> {
    if (!user) return kuzzle.list(user);
    try {
      const list = await this.realtime.listRooms(({ index, collection }) =>
        user.isActionAllowed(this.context.constructors.Request({ controller: 'realtime', action: 'subscribe', index, collection })),
      );
      return plainTree(list);
    } catch (error) {
      this.context.log.warn(`[cluster] realtime:list answered with this node's own rooms: the shared state did not answer (${describeError(error)})`);
      return kuzzle.list(user);
    }
  }
}

/**
 * The list as plain objects, as Kuzzle's own list is (the embedded SDK
 * hands it to plugin code as it is, and a table without a prototype has no
 * `hasOwnProperty` or `toString`); keys set as own properties, so that a
 * collection named "__proto__" stays a key.
 */
function plainTree(tree: unknown): unknown {
  if (typeof tree !== 'object' || tree === null) return tree;
  const plain: Record<string, unknown> = {};
  for (const key of Object.keys(tree)) {
    Object.defineProperty(plain, key, { value: plainTree((tree as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return plain;
}

const localKey = (roomId: string, connectionId: string): string => `${roomId}\n${connectionId}`;

/** The id of the connection a serialized request came through, if any. */
function connectionOf(request: SerializedRequest): string | undefined {
  const connection = request.options.connection;
  return isObject(connection) && typeof connection.id === 'string' ? connection.id : undefined;
}
