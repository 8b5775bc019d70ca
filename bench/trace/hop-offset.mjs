// `node bench/trace/hop-offset.mjs OFFSET_MS...` (after `npm run build`): the quick
// latency case (one Kuzzle, then 3 nodes) once per offset, with the bare hop beside
// it sending OFFSET_MS after each publish of the case's schedule instead of half a
// period after (KPC_BENCH_HOP_OFFSET_MS). Does the hop take longer when it leaves
// at the moment a publish goes through the machine? One line per offset and rate:
// one node's p50, the cluster's, what the cluster adds, and the hop beside each side.
// The runs' raw files stay in bench/results (not their plots); RESULTS.md is put back
// as it was.
import { keepResultsMd, quickLatency } from './quick-latency.mjs';

const offsets = process.argv.slice(2);
await keepResultsMd(async () => {
  for (const offset of offsets.length > 0 ? offsets : ['0']) {
    const { file, rows } = quickLatency({ KPC_BENCH_HOP_OFFSET_MS: offset });
    for (const { rate, single, cluster, added, hopSingle, hopCluster } of rows) {
      console.log(
        `offset ${offset} ms, ${rate}/s: one node p50 ${single} ms, cluster ${cluster} ms, added ${added} ms; ` +
          `hop beside one node ${hopSingle} ms, beside the cluster ${hopCluster} ms (${file})`,
      );
    }
  }
});
