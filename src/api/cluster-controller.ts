import type { ClusterNode, ResetSummary } from '../cluster/cluster-node';
import type { ClusterStatus } from '../cluster/cluster-status';
import { hasCode } from '../util/cluster-error';
import type { GlueStatus } from './glue-status';

/** What the routes need from the cluster node. */
export type ControllerPort = Pick<ClusterNode, 'status' | 'unhealthy' | 'reset' | 'members' | 'minimumNodes' | 'isReady'>;

/** Builds the error Kuzzle answers with 503 (Service Unavailable). */
export type UnavailableError = (message: string) => Error;
/** Builds the error Kuzzle answers with 429 (Too Many Requests). */
export type BusyError = (message: string) => Error;

/** The operators' routes: status, health (for load balancers) and reset. */
export class ClusterController {
  constructor(
    private readonly node: ControllerPort,
    private readonly unavailable: UnavailableError,
    private readonly busy: BusyError,
    private readonly glue: () => GlueStatus,
  ) {}

  status(): ClusterStatus & GlueStatus {
    return { ...this.node.status(), ...this.glue() };
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

  /** Rebuilds the shared state; 429 while a reset started on this node runs. */
  async reset(): Promise<ResetSummary> {
    if (!this.node.isReady) throw this.unavailable('this node has not joined the cluster yet');
    try {
      return await this.node.reset();
    } catch (error) {
      if (hasCode(error, 'KPC_RESET_RUNNING')) throw this.busy(error.message);
      throw error;
    }
  }
}
