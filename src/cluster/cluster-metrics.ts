import type { HistogramSnapshot } from '../util/histogram';
import type { ClusterStatus } from './cluster-status';
import type { RoomTally } from '../state/realtime-store';

/** Everything `GET /_plugin/cluster/metrics` reports: the status, plus what costs a Redis call or a walk. */
export interface ClusterMetrics {
  status: ClusterStatus;
  local: RoomTally;
  /** Rooms of the whole cluster; undefined when Redis did not answer. */
  clusterRooms: number | undefined;
  /** Latency of each Lua script of the realtime state. */
  scriptLatency: Record<string, HistogramSnapshot>;
  /** Rooms of the shared state whose filters this node refused. */
  badFilters: number;
}
