import type { ClusterNode } from '../cluster/cluster-node';
import type { PluginContextLike } from '../plugin/kuzzle-types';

/** The operators' routes: status, health (for load balancers) and reset. */
export class ClusterController {
  constructor(
    private readonly node: () => ClusterNode | undefined,
    private readonly context: PluginContextLike,
    /** Counters of messages dropped by modules the node does not own (Kuzzle-wide sync). */
    private readonly moreDropped: () => Record<string, number> = () => ({}),
  ) {}

  status(): Record<string, unknown> {
    const node = this.node();
    if (!node) return { node: { ready: false } };
    const membership = node.membership;
    const now = Date.now();
    return {
      node: {
        id: node.id,
        addresses: membership?.self.addresses,
        ready: node.ready,
        since: node.readySince,
        resyncing: node.resyncing,
        rejoins: node.rejoins,
      },
      peers: (membership?.peers() ?? []).map((peer) => ({
        id: peer.card.id,
        addresses: peer.card.addresses,
        kuzzleVersion: peer.card.kuzzleVersion,
        lastHeartbeatAgeMs: now - peer.lastSeen,
        memberSinceMs: now - peer.since,
      })),
      members: membership?.size() ?? 1,
      minimumNodes: node.options.minimumNodes,
      transport: node.transport.stats(),
      droppedMessages: { realtime: node.sync?.dropped.malformed ?? 0, unknownType: node.unknownMessages, ...this.moreDropped() },
    };
  }

  /**
   * 200 when this node has joined and the cluster has at least `minimumNodes`
   * members; otherwise 503 (Service Unavailable), so load balancers skip it.
   */
  health(): Record<string, unknown> {
    const node = this.node();
    const members = node?.membership?.size() ?? 0;
    const minimumNodes = node?.options.minimumNodes ?? 1;
    if (!node?.ready) throw this.unavailable('this node has not joined the cluster yet');
    if (members < minimumNodes) throw this.unavailable(`${members} node(s) in the cluster, ${minimumNodes} required`);
    return { ok: true, members, minimumNodes };
  }

  async reset(): Promise<Record<string, unknown>> {
    const node = this.node();
    if (!node?.ready) throw this.unavailable('this node has not joined the cluster yet');
    return node.reset();
  }

  private unavailable(message: string): Error {
    const ErrorClass = this.context.errors.ServiceUnavailableError ?? this.context.errors.InternalError;
    return new ErrorClass(`[cluster] ${message}`);
  }
}
