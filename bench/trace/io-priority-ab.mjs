// `node bench/trace/io-priority-ab.mjs [HOW VALUE, default nice -10] [ROUNDS, default 2] [--full]`
// (root, after `npm run build`): does libzmq's I/O thread of a Kuzzle node wait
// less, and the cluster add less latency, when that thread has a higher priority?
// sched-split.py saw it wait for a core until its own node's main thread slept.
// Runs the quick latency case (the full one with --full: 20 s per rate) ROUNDS
// times as it is and ROUNDS times with every Kuzzle node's ZMQbg/IO threads raised by prioritise-io-threads.sh HOW VALUE
// (nice N, fifo P or slice US; the bare hop's processes are left alone),
// alternating, and prints one line per run, with how many threads were changed
// (a raised run that changed none fails). The runs as they are get the same
// scan every 0.3 s (`none 0`), so that both pay what it costs the cores.
// RESULTS.md is put back as it was.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepResultsMd, quickLatency, root } from './quick-latency.mjs';

const full = process.argv.includes('--full');
const args = process.argv.slice(2).filter((arg) => arg !== '--full');
const [how, value, roundsArg] = args.length > 1 ? args : ['nice', '-10', args[0]];
const rounds = Number(roundsArg ?? '2');
if (!['nice', 'fifo', 'slice'].includes(how) || !/^-?\d+$/.test(value) || !Number.isInteger(rounds) || rounds < 1) {
  throw new Error('usage: io-priority-ab.mjs [nice N|fifo P|slice US] [ROUNDS] [--full]');
}
const dir = mkdtempSync(join(tmpdir(), 'kpc-priority-'));
const idsFile = join(dir, 'changed');
const fmt = (v) => v.toFixed(2);
const label = `${how} ${value}`;

try {
  await keepResultsMd(async () => {
    for (let round = 0; round < rounds; round++) {
      for (const raised of [false, true]) {
        rmSync(idsFile, { force: true });
        const loop = spawn('sh', [`${root}bench/trace/prioritise-io-threads.sh`, ...(raised ? [how, value] : ['none', '0']), idsFile], { stdio: 'inherit' });
        let result;
        try {
          result = quickLatency({}, !full);
        } finally {
          loop.kill();
        }
        const threads = existsSync(idsFile) ? new Set(readFileSync(idsFile, 'utf8').split('\n').filter(Boolean)).size : 0;
        if (raised && threads === 0) throw new Error(`${result.file}: no I/O thread was changed (root? see prioritise-io-threads.sh)`);
        const [r200, r1000] = result.rows;
        console.log(
          `${(raised ? label : 'as-is').padEnd(10)} ${result.file}: p50 one Kuzzle ${r200.single}/${r1000.single} ms, cluster ${r200.cluster}/${r1000.cluster}, ` +
            `added ${fmt(r200.added)}/${fmt(r1000.added)}, hop beside ${r200.hopCluster}/${r1000.hopCluster} (200/s / 1,000/s), ${threads} I/O threads changed`,
        );
      }
    }
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
