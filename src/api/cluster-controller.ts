import type { ClusterNode, ResetSummary } from '../cluster/cluster-node';
import type { ClusterStatus } from '../cluster/cluster-status';

/** What the routes need from the cluster node. */
export type ControllerPort = Pick<ClusterNode, 'status' | 'unhealthy' | 'reset' | 'members' | 'minimumNodes' | 'isReady'>;

/** Builds the error Kuzzle answers with 503 (Service Unavailable). */
export type UnavailableError = (message: string) => Error;

/** The operators' routes: status, health (for load balancers) and reset. */
export class ClusterController {
  constructor(
    private readonly node: ControllerPort,
    private readonly unavailable: UnavailableError,
  ) {}

  status(): ClusterStatus {
    return this.node.status();
  }

  /**
   * 200 when this node has joined, is not shutting down, reaches the shared
   * state and the cluster has at least `minimumNodes` members; otherwise 503
   * (Service Unavailable) with the reason, so that load balancers skip it.
   */
  health(): { ok: true; members: number; minimumNodes: number } {
    const reason = this.node.unhealthy();
    if (reason !== undefined) throw this.unavailable(reason);
    return { ok: true, members: this.node.members, minimumNodes: this.node.minimumNodes };
  }

  async reset(): Promise<ResetSummary> {
    if (!this.node.isReady) throw this.unavailable('this node has not joined the cluster yet');
    return this.node.reset();
  }
}
