import { now } from '../load/clock';
import type { Side } from '../side';
import { waitFor } from '../../test/harness/wait';

interface JoinStatus {
  node: { id: string; since?: number; rejoins: number };
  members: number;
  peers: Array<{ id: string; memberSinceMs: number }>;
}

export interface JoinMeasure {
  subscriptions: number;
  /** From starting the Kuzzle process to the plugin ready (Kuzzle's own boot included). */
  readyMs: number;
  /** From node 1 accepting the newcomer as a member to the newcomer ready: loading the shared state. */
  joinMs: number;
  /** Evictions counted by the other nodes meanwhile, plus the newcomer's own rejoins. */
  evictions: number;
}

/**
 * (d) A node joins the cluster as it is: how long until it is ready, and
 * whether anyone evicted it (or anything else) meanwhile. It leaves again
 * gracefully afterwards, so the next level starts from the same 3 nodes.
 */
export async function joinOnce(side: Side, subscriptions: number): Promise<JoinMeasure> {
  const others = side.ports().map((_, i) => i + 1);
  const before = await side.evictions(others);
  const started = now();
  const node = await side.stack.addNode();
  const index = side.stack.nodes.indexOf(node) + 1;
  const status = await side.stack.clusterStatus<JoinStatus>(index);
  const askedAt = now();
  const seen = await side.stack.clusterStatus<JoinStatus>(1);
  const memberSince = askedAt - (seen.peers.find((peer) => peer.id === status.node.id)?.memberSinceMs ?? Number.NaN);
  const since = status.node.since ?? Number.NaN;
  const evictions = (await side.evictions(others)) - before + status.node.rejoins;
  await node.stop();
  await waitFor('the joined node to have left', async () => (await side.stack.clusterStatus<JoinStatus>(1)).members === others.length, { timeoutMs: 30_000, intervalMs: 100 });
  return { subscriptions, readyMs: Math.round(since - started), joinMs: Math.round(since - memberSince), evictions };
}
