import { now } from '../load/clock';
import { median } from '../stats';
import type { CaseContext, CaseOutput } from '../case-context';
import type { Side } from '../side';
import { waitFor } from '../../test/harness/wait';

interface PeersStatus {
  node: { id: string };
  members: number;
  peers: Array<{ id: string }>;
}

/**
 * (f) kill -9 of node 3: time until every survivor dropped it from its
 * members, polling each survivor's status every 20 ms. Node 3 is started
 * again between repetitions.
 */
export async function killCase(ctx: CaseContext): Promise<CaseOutput> {
  const { side, params } = ctx;
  const victim = side.ports().length;
  const survivors = Array.from({ length: victim - 1 }, (_, i) => i + 1);
  const detections: number[] = [];
  await settled(side);
  for (let round = 0; round < params.kill.repetitions; round++) {
    const node = side.stack.node(victim);
    if (!node.alive) {
      node.start();
      await node.waitReady();
    }
    const id = (await side.stack.clusterStatus<PeersStatus>(victim)).node.id;
    await side.stack.adminToken();
    const killedAt = now();
    node.process?.signal('SIGKILL');
    const times = await Promise.all(
      survivors.map(async (n) => {
        const deadline = killedAt + 30_000;
        while (now() < deadline) {
          const status = await side.stack.clusterStatus<PeersStatus>(n);
          if (!status.peers.some((peer) => peer.id === id)) return now() - killedAt;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        return Number.NaN;
      }),
    );
    await node.process?.waitExit();
    detections.push(Math.max(...times));
  }
  return {
    metrics: { detectionMs: Math.round(median(detections) ?? Number.NaN), detectionMaxMs: Math.round(Math.max(...detections)) },
    details: { detections: detections.map(Math.round) },
  };
}

/**
 * Waits until the previous case's subscriptions are gone from the cluster
 * (its connections closed): a kill while thousands of rooms are being
 * removed would time the cleanup, not the detection.
 */
async function settled(side: Side): Promise<void> {
  const client = await side.client();
  await waitFor('the rooms of the previous cases to be removed', async () => {
    const response = await client.query({ controller: 'realtime', action: 'list' });
    const collections = ((response.result ?? {}) as Record<string, Record<string, Record<string, number>>>)[side.index] ?? {};
    return Object.values(collections).every((rooms) => Object.keys(rooms).length === 0);
  }, { timeoutMs: 120_000, intervalMs: 500 });
}
