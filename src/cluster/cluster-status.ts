import type { BacklogStats } from '../bus/broadcast-backlog';
import type { BusStats } from '../bus/message-bus';
import type { Peer } from '../membership/membership';
import type { NodeCard } from '../membership/node-card';
import type { AvailabilityStats } from '../state/availability';
import type { TransportStats } from '../transport/transport';
import type { ChangeCounts } from '../sync/change-relay';
import type { TrustStats } from './node-trust';
import type { RepairStats } from './self-repair';
import { clock } from '../util/clock';

/** Self-repair counters, and why the shared state is unreachable now, if it is (see StateAvailability). */
export type RepairStatus = RepairStats & { stateUnreachable: string | undefined };

/** What `GET /_plugin/cluster/status` shows. Nothing secret: ids, addresses, counters. */
export interface ClusterStatus {
  node: {
    id: string;
    incarnation: number;
    addresses: NodeCard['addresses'];
    ready: boolean;
    draining: boolean;
    since: number | undefined;
    resyncing: boolean;
    rejoins: number;
    /** The last catch-up on Kuzzle-wide state that found no member to answer, if any. */
    catchUpError: string | undefined;
    /** Members that did not answer this node's rejoin (not counted by health: they may not count it in). */
    unacknowledgedBy: string[];
  };
  peers: Array<{
    id: string;
    incarnation: number;
    addresses: NodeCard['addresses'];
    kuzzleVersion: string | undefined;
    lastHeartbeatAgeMs: number;
    memberSinceMs: number;
    missedBroadcasts: number;
  }>;
  members: number;
  minimumNodes: number;
  /** Why health answers 503, if it does. */
  unhealthy: string | undefined;
  transport: TransportStats;
  messages: BusStats;
  repair: RepairStatus;
  /** Reachability of the shared state: degraded periods (failovers, outages) and retries. */
  redis: AvailabilityStats & { unreachableBoundMs: number };
  evictions: Record<string, number>;
  /** Cards, records and nodes this node refused to trust. */
  trust: TrustStats;
  /** Peers' document changes: matched here, or ignored at once (no filter of this node on their collection). */
  changes: ChangeCounts;
  /** Peers' broadcasts being handled here, and the peers whose next ones this node holds unread for it. */
  backlog: BacklogStats;
}

export interface StatusSources {
  card: NodeCard;
  peers: Peer[];
  /** Members that have not acknowledged this node's current incarnation (see Membership.unacknowledgedBy). */
  unacknowledgedBy: string[];
  ready: boolean;
  draining: boolean;
  readySince: number | undefined;
  resyncing: boolean;
  rejoins: number;
  catchUpError: string | undefined;
  minimumNodes: number;
  transport: TransportStats;
  bus: BusStats;
  repair: RepairStatus;
  redis: AvailabilityStats;
  /** How long the state may be unreachable before health answers 503 (`timers.stateUnreachable`). */
  unreachableBoundMs: number;
  evictions: Record<string, number>;
  trust: TrustStats;
  changes: ChangeCounts;
  backlog: BacklogStats;
}

/**
 * Why this node must not receive traffic now, or undefined when it may.
 * Health answers it to anyone: no node id, address or Redis error in it
 * (`status`, for signed-in operators, has them).
 */
export function unhealthyReason(
  sources: Pick<StatusSources, 'ready' | 'draining' | 'peers' | 'unacknowledgedBy' | 'minimumNodes' | 'repair' | 'redis' | 'unreachableBoundMs' | 'catchUpError'>,
  now = Date.now(),
): string | undefined {
  // Members that did not answer this node's rejoin may not count it in (a
  // one-way cut: it hears them, they do not hear it): not counted here, or
  // a node cut off that way would take the balancer's traffic alone.
  const unacknowledged = sources.unacknowledgedBy.length;
  const members = sources.peers.length + 1 - unacknowledged;
  if (!sources.ready) return 'this node has not joined the cluster yet';
  if (sources.draining) return 'this node is shutting down';
  // A short outage (a failover) is retried through; only a long one takes the node out of the balancer.
  const since = sources.redis.degradedSince;
  if (since !== undefined && now - since >= sources.unreachableBoundMs) {
    return `the shared state (Redis) is unreachable for ${now - since} ms (see status: redis.degradedReason)`;
  }
  // Rights, tokens, strategies or indexes this node may have missed: it
  // would serve them stale (a failed step is tried again every few seconds).
  if (sources.catchUpError !== undefined) return 'this node has not caught up on the Kuzzle-wide state it may have missed (see status: node.catchUpError)';
  if (members < sources.minimumNodes) {
    const why = unacknowledged > 0 ? ` (${unacknowledged} member(s) did not answer its rejoin, see status: node.unacknowledgedBy)` : '';
    return `${members} node(s) in the cluster${why}, ${sources.minimumNodes} required`;
  }
  return undefined;
}

export function buildStatus(sources: StatusSources, now = Date.now()): ClusterStatus {
  return {
    node: {
      id: sources.card.id,
      incarnation: sources.card.incarnation,
      addresses: sources.card.addresses,
      ready: sources.ready,
      draining: sources.draining,
      since: sources.readySince,
      resyncing: sources.resyncing,
      rejoins: sources.rejoins,
      catchUpError: sources.catchUpError,
      unacknowledgedBy: sources.unacknowledgedBy,
    },
    peers: sources.peers.map((peer) => ({
      id: peer.card.id,
      incarnation: peer.card.incarnation,
      addresses: peer.card.addresses,
      kuzzleVersion: peer.card.kuzzleVersion,
      lastHeartbeatAgeMs: Math.round(clock.now() - peer.lastSeen),
      memberSinceMs: now - peer.since,
      missedBroadcasts: sources.transport.gaps[peer.card.id] ?? 0,
    })),
    members: sources.peers.length + 1,
    minimumNodes: sources.minimumNodes,
    unhealthy: unhealthyReason(sources, now),
    transport: sources.transport,
    messages: sources.bus,
    repair: sources.repair,
    redis: { ...sources.redis, unreachableBoundMs: sources.unreachableBoundMs },
    evictions: sources.evictions,
    trust: sources.trust,
    changes: { ...sources.changes },
    backlog: sources.backlog,
  };
}
