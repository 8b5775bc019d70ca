import type { ClusterNode } from '../cluster/cluster-node';
import type { RealtimeHost } from '../sync/realtime-host';
import type { KuzzleLike, KuzzleRequestLike, PluginContextLike, SerializedRequest } from './kuzzle-types';

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
 * sync, and makes `realtime:count`, `realtime:list` and `realtime:join`
 * answer for the whole cluster.
 */
export class RealtimeGlue {
  constructor(
    private readonly node: ClusterNode,
    private readonly host: RealtimeHost,
    private readonly kuzzle: KuzzleLike,
    private readonly context: PluginContextLike,
  ) {}

  private get sync(): NonNullable<ClusterNode['sync']> {
    if (!this.node.sync) throw new Error('[cluster] node not started');
    return this.node.sync;
  }

  async subscribed(diff: SubscriptionDiff): Promise<SubscriptionDiff> {
    let filters = diff.filters;
    if (filters === undefined) {
      // A join does not carry the filters: the room exists, Redis has them.
      const snapshot = await this.node.state.getCollection(diff.index, diff.collection);
      filters = snapshot.rooms.find((room) => room.roomId === diff.roomId)?.filters;
      if (filters === undefined) {
        // Only local subscribers that do not propagate (cluster: false) hold this room.
        this.context.log.warn(`room ${diff.roomId} joined on this node only: it has no cluster-wide filter`);
        return diff;
      }
    }
    try {
      await this.sync.subscribed({ index: diff.index, collection: diff.collection, roomId: diff.roomId, filters }, diff.connectionId);
    } catch (error) {
      // Kuzzle already subscribed the connection: undo it, or it would be
      // notified locally while the cluster does not count it.
      await this.kuzzle.ask('core:realtime:unsubscribe', diff.connectionId, diff.roomId, false).catch(() => undefined);
      throw error;
    }
    return diff;
  }

  async unsubscribed(payload: UnsubscriptionPayload): Promise<UnsubscriptionPayload> {
    await this.sync.unsubscribed(payload.room.id, payload.requestContext.connection.id);
    return payload;
  }

  /** Keeps the filter in Koncorde while other nodes still have subscribers (a throwing pipe keeps it). */
  async beforeRoomRemove(roomId: string): Promise<string> {
    if (!(await this.sync.mayDropFilter(roomId))) {
      throw new Error(`[cluster] room ${roomId} still has subscribers on other nodes`);
    }
    return roomId;
  }

  forwardDocument(payload: { rooms: string[]; request: SerializedRequest; scope: string; action: string; content: unknown }): Promise<void> {
    return this.sync.forwardDocument(payload);
  }

  forwardUser(payload: { room: string; request: SerializedRequest; scope: string; content: unknown }): Promise<void> {
    return this.sync.forwardUser(payload);
  }

  /**
   * A room created on another node must exist in Kuzzle's local room list
   * before it can be joined (the join then adds its subscriber at once).
   */
  async ensureLocalRoom(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId === 'string' && !this.sync.hasLocalSubscribers(roomId) && this.host.hasFilter(roomId)) {
      const location = await this.node.state.locateRoom(roomId);
      if (location) await this.host.createLocalRoom(location.index, location.collection, roomId);
    }
    return request;
  }

  /** `realtime:count` answers with the cluster-wide count. */
  async clusterCount(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const roomId = request.input.body?.roomId;
    if (typeof roomId === 'string') {
      const count = await this.node.state.countRoom(roomId);
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
    const count = await this.node.state.countRoom(roomId);
    if (count !== undefined) {
      request.clearError();
      request.setResult({ count }, { status: 200 });
    }
    return request;
  }

  /** Every room of the cluster on collections the caller may subscribe to, with cluster-wide counts. */
  async clusterList(request: KuzzleRequestLike): Promise<KuzzleRequestLike> {
    const user = request.context.user;
    if (!user) return request;
    const list: Record<string, Record<string, Record<string, number>>> = {};
    for (const snapshot of await this.node.state.getAll()) {
      const check = this.context.constructors.Request({
        controller: 'realtime',
        action: 'subscribe',
        index: snapshot.index,
        collection: snapshot.collection,
      });
      if (!(await user.isActionAllowed(check))) continue;
      for (const room of snapshot.rooms) {
        if (room.total <= 0) continue;
        const collections = (list[snapshot.index] ??= {});
        const rooms = (collections[snapshot.collection] ??= {});
        rooms[room.roomId] = room.total;
      }
    }
    request.setResult(list, { status: 200 });
    return request;
  }
}
