import assert from 'node:assert/strict';
import type { Kuzzle } from 'kuzzle-sdk';
import type { Stack } from '../../harness/stack';
import { waitFor } from '../../harness/wait';
import { httpJson, portOf } from '../../functional/support/fixture';
import type { NumberedStream, StreamSubscriber } from './numbered-stream';

export interface NodeStatus {
  node: { id: string; incarnation: number; ready: boolean; rejoins: number; resyncing: boolean };
  members: number;
  unhealthy?: string;
  peers: Array<{ id: string; missedBroadcasts: number }>;
  transport: { dropped: Record<string, number>; gaps: Record<string, number> };
  messages: { dropped: Record<string, number> };
  repair: { stateLosses: number; drifts: number; ghostsPurged: number; gapRepairs: number; indexRepairs: number; entriesRestored: number; staleEntriesRemoved: number; stateUnreachable?: string };
  evictions: Record<string, number>;
  /** Peers' document changes: matched here, or ignored (no filter here on their collection). */
  changes: { applied: number; ignored: number; failed: number };
  /** Peers' broadcasts being handled here; peers whose next ones this node holds unread for it. */
  backlog: { inHand: number; peak: number; holds: number; holding: string[] };
}

export function statusOf(stack: Stack, node: number): Promise<NodeStatus> {
  return stack.clusterStatus<NodeStatus>(node);
}

export async function healthOf(stack: Stack, node: number): Promise<number> {
  return (await httpJson(`http://127.0.0.1:${portOf(stack, node)}/_plugin/cluster/health`)).status;
}

/** Waits until each listed node counts `members` members. */
export async function waitMembers(stack: Stack, nodes: number[], members: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(`nodes ${nodes.join(', ')} to count ${members} members`, async () => {
    for (const node of nodes) if ((await statusOf(stack, node)).members !== members) return false;
    return true;
  }, { timeoutMs, intervalMs: 200 });
}

/** Waits until every client sees `expected` subscribers in the room (cluster-wide count from each node). */
export async function waitCounts(clients: Kuzzle[], roomId: string, expected: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(`count ${expected} of room ${roomId} from every node`, async () => {
    const counts = await Promise.all(clients.map((client) => client.realtime.count(roomId)));
    if (counts.every((count) => count === expected)) return true;
    throw new Error(`counts ${counts.join(', ')}`);
  }, { timeoutMs, intervalMs: 200 });
}

/**
 * The shared state names only live node incarnations, and node cards only
 * live nodes: nothing left behind by crashed, restarted or evicted nodes.
 */
export async function assertNoGhost(stack: Stack, liveNodes: number[], timeoutMs = 20_000): Promise<void> {
  const redis = stack.stateRedis();
  try {
    await waitFor('no leftover of a node that is gone', async () => {
      const statuses = await Promise.all(liveNodes.map((node) => statusOf(stack, node)));
      const live = new Set(statuses.map((s) => `${s.node.id}#${s.node.incarnation}`));
      const liveIds = new Set(statuses.map((s) => s.node.id));
      const owners = await redis.smembers('kpc:kuzzle:{kpc:kuzzle}:owners');
      const cards = await redis.hkeys('kpc:kuzzle:{kpc:kuzzle:nodes}:cards');
      const ghosts = owners.filter((owner) => !live.has(owner));
      const ghostCards = cards.filter((id) => !liveIds.has(id));
      if (ghosts.length === 0 && ghostCards.length === 0) return true;
      throw new Error(`ghost owners: ${ghosts.join(', ') || 'none'}; ghost cards: ${ghostCards.join(', ') || 'none'}`);
    }, { timeoutMs, intervalMs: 500 });
  } finally {
    redis.disconnect();
  }
}

export function assertHealthy(status: NodeStatus): void {
  assert.equal(status.unhealthy, undefined, `node ${status.node.id} unhealthy: ${status.unhealthy}`);
}

/**
 * SIGTERM of a node the stream may be running through: its subscriber
 * must get everything published until now (then it is retired), health
 * turns 503 while the node drains, and the node exits.
 */
export async function retireAndStop(stack: Stack, node: number, stream: NumberedStream, subscriber: StreamSubscriber | undefined, retired: StreamSubscriber[]): Promise<void> {
  assert.ok(subscriber, `a subscriber on node ${node}`);
  subscriber.until = stream.position - 1;
  retired.push(subscriber);
  const stopping = stack.node(node).stop();
  await waitFor('health 503 or the node gone', async () => !stack.node(node).alive || (await healthOf(stack, node).catch(() => 503)) === 503);
  await stopping;
}
