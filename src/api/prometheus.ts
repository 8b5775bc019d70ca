import type { ClusterMetrics } from '../cluster/cluster-metrics';
import type { HistogramSnapshot } from '../util/histogram';
import type { GlueStatus } from './glue-status';
import { MAX_BROADCASTS_IN_HAND_PER_SENDER } from '../bus/broadcast-backlog';

type Labels = Record<string, string>;

/** A label value as Prometheus' text format wants it. */
const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([key, value]) => `${key}="${escape(value)}"`).join(',')}}`;
}

/** Accumulates metric families in Prometheus' text exposition format (0.0.4). */
class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string, samples: Array<[Labels, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${labelText(labels)} ${Number.isFinite(value) ? value : 0}`);
  }

  histogram(name: string, help: string, series: Array<[Labels, HistogramSnapshot]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    for (const [labels, snapshot] of series) {
      for (const [bound, count] of snapshot.buckets) this.lines.push(`${name}_bucket${labelText({ ...labels, le: String(bound) })} ${count}`);
      this.lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${snapshot.count}`);
      this.lines.push(`${name}_sum${labelText(labels)} ${snapshot.sum}`, `${name}_count${labelText(labels)} ${snapshot.count}`);
    }
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

const entries = (record: Record<string, number>, label: string): Array<[Labels, number]> =>
  Object.entries(record).map(([key, value]) => [{ [label]: key }, value]);

/**
 * `GET /_plugin/cluster/metrics`: every counter of the node, for Prometheus
 * to scrape, and of the Kuzzle glue when given (a node run without Kuzzle
 * has none).
 */
export function renderMetrics(metrics: ClusterMetrics, glue?: GlueStatus): string {
  const { status } = metrics;
  const out = new Exposition();
  const flag = (value: boolean): number => (value ? 1 : 0);
  out.family('kpc_members', 'gauge', 'Nodes in the cluster as this node sees it, itself included.', [[{}, status.members]]);
  out.family('kpc_minimum_nodes', 'gauge', 'minimumNodes: health answers 503 below it.', [[{}, status.minimumNodes]]);
  out.family('kpc_ready', 'gauge', '1 once this node has joined and loaded the shared state.', [[{}, flag(status.node.ready)]]);
  out.family('kpc_healthy', 'gauge', '1 when health answers 200.', [[{}, flag(status.unhealthy === undefined)]]);
  out.family('kpc_draining', 'gauge', '1 while this node shuts down.', [[{}, flag(status.node.draining)]]);
  out.family('kpc_incarnation', 'gauge', 'Incarnation of this node (grows at each start and rejoin).', [[{}, status.node.incarnation]]);
  out.family('kpc_rejoins_total', 'counter', 'Times this node joined again after being presumed dead.', [[{}, status.node.rejoins]]);
  out.family('kpc_state_reachable', 'gauge', '0 while Redis does not answer.', [[{}, flag(status.repair.stateUnreachable === undefined)]]);
  out.family('kpc_state_degraded_seconds', 'gauge', 'How long Redis operations have been failing and retried (a failover), 0 when they are not.', [
    [{}, status.redis.degradedSince === undefined ? 0 : Math.max(0, Date.now() - status.redis.degradedSince) / 1000],
  ]);
  out.family('kpc_state_degraded_periods_total', 'counter', 'Periods during which Redis operations failed and were retried.', [[{}, status.redis.periods]]);
  out.family('kpc_state_retries_total', 'counter', 'Redis operations retried after a transient failure, and those that gave up at the retry bound.', [
    [{ outcome: 'retried' }, status.redis.retried],
    [{ outcome: 'gave_up' }, status.redis.gaveUp],
  ]);
  out.family('kpc_messages_sent_total', 'counter', 'Messages sent, per type (requests and messages addressed to some peers only, once per peer).', entries(status.messages.sentByType, 'type'));
  out.family('kpc_messages_received_total', 'counter', 'Messages received and accepted, per type.', entries(status.messages.receivedByType, 'type'));
  out.family('kpc_bytes_sent_total', 'counter', 'Bytes of frames sent, per message type.', entries(status.transport.bytesByType.sent, 'type'));
  out.family('kpc_bytes_received_total', 'counter', 'Bytes of frames received, per message type.', entries(status.transport.bytesByType.received, 'type'));
  out.family('kpc_dropped_total', 'counter', 'Messages or connections refused, per layer and reason.', [
    ...Object.entries(status.transport.dropped).map(([reason, value]): [Labels, number] => [{ layer: 'transport', reason }, value]),
    ...Object.entries(status.messages.dropped).map(([reason, value]): [Labels, number] => [{ layer: 'bus', reason }, value]),
    [{ layer: 'sync', reason: 'badFilter' }, metrics.badFilters],
  ]);
  out.family('kpc_peer_changes_total', 'counter', 'Document changes and publications: made here and sent to the peers (addressed: to the listening peers only) or unsent (no peer listens); from peers, matched against this node\'s filters, ignored (no filter here on their collection), or failed.', entries({ ...status.changes }, 'outcome'));
  out.family('kpc_peer_broadcasts_in_hand', 'gauge', 'Peers\' broadcasts being handled here (changes being matched or waiting their turn, user notifications, application events).', [[{}, status.backlog.inHand]]);
  out.family('kpc_peer_holds_total', 'counter', `Times this node stopped reading a peer's broadcasts, ${MAX_BROADCASTS_IN_HAND_PER_SENDER} of them in hand here.`, [[{}, status.backlog.holds]]);
  out.family('kpc_peer_holds_timed_out_total', 'counter', 'Holds of a peer\'s broadcasts ended by their time bound, handlings still under way.', [[{}, status.backlog.holdsTimedOut]]);
  const handshakes = status.transport.handshakes;
  out.family('kpc_handshakes_total', 'counter', 'Connections to this node\'s ROUTER and PUB, per outcome: accepted, completed, or failed (how).', (['router', 'pub'] as const).flatMap((socket) => [
    [{ socket, outcome: 'accepted' }, handshakes[socket].accepted] as [Labels, number],
    [{ socket, outcome: 'completed' }, handshakes[socket].completed] as [Labels, number],
    ...Object.entries(handshakes[socket].failed).map(([how, value]): [Labels, number] => [{ socket, outcome: `failed_${how}` }, value]),
  ]));
  out.family('kpc_keys_refused_total', 'counter', 'CURVE client keys refused by this node\'s key check.', (['router', 'pub'] as const).map((socket): [Labels, number] => [{ socket }, handshakes[socket].keysRefused]));
  const { trust } = status;
  out.family('kpc_cards_refused_total', 'counter', 'Cards read from Redis and not trusted, per reason (serverKey, unsealed, forged, identityChanged, pinsFull), each card once.', entries(trust.refusedCards, 'reason'));
  out.family('kpc_records_unreadable_total', 'counter', 'Shared records skipped, per reason (unsealed, notForThisKey, forged).', entries(trust.unreadableRecords, 'reason'));
  out.family('kpc_foreign_protocol_nodes', 'gauge', 'Live nodes of another wire protocol version: they cannot join this cluster.', [[{}, Object.keys(trust.foreignProtocols).length]]);
  // Every current peer at 0 at least, so that a first gap shows as an increase.
  const gaps = { ...Object.fromEntries(status.peers.map((peer) => [peer.id, 0])), ...status.transport.gaps };
  out.family('kpc_broadcasts_missed_total', 'counter', 'Broadcasts and messages addressed to this node lost (sequence gaps), per peer.', entries(gaps, 'peer'));
  out.family('kpc_repairs_total', 'counter', 'Self-repairs, per kind.', [
    [{ kind: 'gap' }, status.repair.gapRepairs],
    [{ kind: 'state_loss' }, status.repair.stateLosses],
    [{ kind: 'drift' }, status.repair.drifts],
    [{ kind: 'ghost' }, status.repair.ghostsPurged],
    [{ kind: 'index' }, status.repair.indexRepairs],
    [{ kind: 'entry' }, status.repair.entriesRestored],
    [{ kind: 'stale_entry' }, status.repair.staleEntriesRemoved],
  ]);
  out.family('kpc_evictions_total', 'counter', 'Peers removed, per reason (timeout, left, replaced).', entries(status.evictions, 'reason'));
  out.family(
    'kpc_peer_heartbeat_age_seconds',
    'gauge',
    'Time since the last message of each peer.',
    status.peers.map((peer): [Labels, number] => [{ peer: peer.id }, peer.lastHeartbeatAgeMs / 1000]),
  );
  out.family('kpc_requests_pending', 'gauge', 'Requests to peers awaiting their reply.', [[{}, status.transport.pendingRequests]]);
  out.family('kpc_request_timeouts_total', 'counter', 'Requests to peers that got no reply in time.', [[{}, status.transport.timeouts]]);
  out.family('kpc_rooms', 'gauge', 'Realtime rooms: with subscribers on this node, and in the whole cluster.', [
    [{ scope: 'local' }, metrics.local.rooms],
    ...(metrics.clusterRooms === undefined ? [] : [[{ scope: 'cluster' }, metrics.clusterRooms] as [Labels, number]]),
  ]);
  out.family('kpc_subscriptions', 'gauge', 'Realtime subscriptions on this node.', [[{ scope: 'local' }, metrics.local.subscribers]]);
  if (glue) {
    const { memoryStorage } = glue;
    out.family('kpc_memory_storage_guarded', 'gauge', '1 while ms:* commands are checked for the plugin\'s keys (memoryStorage shares the plugin\'s Redis database, or is not known not to).', [[{}, flag(memoryStorage.guarded)]]);
    out.family('kpc_memory_storage_refused_total', 'counter', 'ms:* commands refused for naming the plugin\'s keys or reading them through a pattern.', [[{}, memoryStorage.refused]]);
  }
  out.histogram('kpc_redis_script_duration_seconds', 'Latency of the Lua scripts of the realtime state.', Object.entries(metrics.scriptLatency).map(([script, snapshot]): [Labels, HistogramSnapshot] => [{ script }, snapshot]));
  return out.text();
}
