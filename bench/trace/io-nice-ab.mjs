// `node bench/trace/io-nice-ab.mjs [NICE, default -10] [ROUNDS, default 2]` (root,
// after `npm run build`): does libzmq's I/O thread of a Kuzzle node wait less, and
// the cluster add less latency, when that thread has a higher priority?
// sched-split.py saw it wait for a core until its own node's main thread slept.
// Runs the quick latency case ROUNDS times as it is and ROUNDS times with every
// Kuzzle node's ZMQbg/IO threads reniced to NICE by renice-io-threads.sh (the bare
// hop's processes are left alone), alternating, and prints one line per run, with
// how many threads were reniced. RESULTS.md is put back as it was.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepResultsMd, quickLatency, root } from './quick-latency.mjs';

const nice = process.argv[2] ?? '-10';
const rounds = Number(process.argv[3] ?? '2');
if (!/^-?\d+$/.test(nice) || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: io-nice-ab.mjs [NICE] [ROUNDS]');
const dir = mkdtempSync(join(tmpdir(), 'kpc-nice-'));
const idsFile = join(dir, 'reniced');
const fmt = (v) => v.toFixed(2);

try {
  await keepResultsMd(async () => {
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['as-is', 'reniced']) {
        rmSync(idsFile, { force: true });
        const loop = mode === 'reniced' ? spawn('sh', [`${root}bench/trace/renice-io-threads.sh`, nice, idsFile], { stdio: 'inherit' }) : undefined;
        let result;
        try {
          result = quickLatency();
        } finally {
          loop?.kill();
        }
        const threads = existsSync(idsFile) ? new Set(readFileSync(idsFile, 'utf8').split('\n').filter(Boolean)).size : 0;
        const [r200, r1000] = result.rows;
        console.log(
          `${mode.padEnd(8)} ${result.file}: p50 one Kuzzle ${r200.single}/${r1000.single} ms, cluster ${r200.cluster}/${r1000.cluster}, ` +
            `added ${fmt(r200.added)}/${fmt(r1000.added)}, hop beside ${r200.hopCluster}/${r1000.hopCluster} (200/s / 1,000/s), ${threads} I/O threads reniced`,
        );
      }
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
