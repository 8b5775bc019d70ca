import { now } from '../load/clock';
import { median } from '../stats';
import type { CaseContext, CaseOutput } from '../case-context';

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

