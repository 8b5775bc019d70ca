import { now } from '../load/clock';
import { percentiles } from '../stats';
import type { Side } from '../side';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * (e) `realtime:list` and `realtime:count` latency, called one after another
 * from node 1 while the side holds many rooms. On a cluster, node 2's view
 * of node 1 (its last heartbeat age) is sampled meanwhile: a list that
 * blocked node 1's event loop would show there, or as an eviction.
 */
export async function listAndCount(side: Side, listCalls: number, countCalls: number): Promise<Record<string, number | undefined>> {
  const client = await side.client();
  const roomId = await client.realtime.subscribe(side.index, 'c0', { equals: { n: -1 } }, () => undefined);
  const evictionsBefore = side.clustered ? await side.evictions(side.ports().map((_, i) => i + 1)) : 0;
  let sampling = side.clustered;
  let maxHeartbeatAgeMs = 0;
  const sampler = (async () => {
    const node1 = side.clustered ? (await side.stack.clusterStatus<{ node: { id: string } }>(1)).node.id : '';
    while (sampling) {
      const status = await side.stack.clusterStatus<{ peers: Array<{ id: string; lastHeartbeatAgeMs: number }> }>(2);
      maxHeartbeatAgeMs = Math.max(maxHeartbeatAgeMs, status.peers.find((peer) => peer.id === node1)?.lastHeartbeatAgeMs ?? 0);
      await delay(100);
    }
  })();
  let rooms = 0;
  const list: number[] = [];
  try {
    for (let i = 0; i <= listCalls; i++) {
      const started = now();
      const response = await client.query({ controller: 'realtime', action: 'list' });
      // The first call warms up and is not counted.
      if (i > 0) list.push(now() - started);
      rooms = countRooms(response.result);
    }
  } finally {
    sampling = false;
    await sampler.catch(() => undefined);
  }
  const count: number[] = [];
  for (let i = 0; i <= countCalls; i++) {
    const started = now();
    await client.realtime.count(roomId);
    if (i > 0) count.push(now() - started);
  }
  await client.realtime.unsubscribe(roomId);
  const evictions = side.clustered ? (await side.evictions(side.ports().map((_, i) => i + 1))) - evictionsBefore : 0;
  const l = percentiles(list);
  const c = percentiles(count);
  return {
    listRooms: rooms,
    listP50: l.p50,
    listP99: l.p99,
    countP50: c.p50,
    countP99: c.p99,
    listEvictions: evictions,
    listMaxHeartbeatAgeMs: side.clustered ? Math.round(maxHeartbeatAgeMs) : undefined,
  };
}

/** Rooms in a `realtime:list` answer ({ index: { collection: { roomId: count } } }). */
function countRooms(result: unknown): number {
  let rooms = 0;
  for (const collections of Object.values((result ?? {}) as Record<string, Record<string, Record<string, number>>>)) {
    for (const roomsOf of Object.values(collections)) rooms += Object.keys(roomsOf).length;
  }
  return rooms;
}
