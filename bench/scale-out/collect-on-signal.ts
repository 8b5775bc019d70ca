/**
 * Loaded into each Kuzzle node of the scale-out bench (`node --expose-gc
 * --require`, see {@link collectingNodeArgs}), never into a user's node. It
 * writes the process's memory (`process.memoryUsage()`, and the young
 * generation's pages in memory as `youngGeneration`, in bytes) to
 * `<KPC_BENCH_GC_DIR>/<pid>.memory-now.json` every second, so that the bench
 * can tell when V8's memory reducer has given a burst's memory back by
 * itself; and on SIGUSR2 it runs a full garbage collection and then writes
 * how many it ran to `<pid>.collected` and the memory to `<pid>.memory.json`,
 * so that the bench reads RSS with the garbage of a burst collected, on
 * every node at once and on one Kuzzle alike. (Kuzzle 2.10 handles SIGTRAP,
 * SIGINT, SIGTERM and SIGQUIT; SIGUSR2 is free.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';

const collect = (globalThis as { gc?: () => void }).gc;
const dir = process.env.KPC_BENCH_GC_DIR;

/**
 * A burst grows the young generation to its maximum (2 × 16 MB on 64-bit
 * Node 20); a full collection leaves it committed and only V8's memory
 * reducer (once the process has been quiet for a while) shrinks it: the
 * bench reads it apart.
 */
function memory(): NodeJS.MemoryUsage & { youngGeneration: number } {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
  return { ...process.memoryUsage(), youngGeneration: young };
}

let collected = 0;
if (collect && dir) {
  setInterval(() => writeFileSync(join(dir, `${process.pid}.memory-now.json`), JSON.stringify(memory())), 1000).unref();
  process.on('SIGUSR2', () => {
    collect();
    collected += 1;
    writeFileSync(join(dir, `${process.pid}.memory.json`), JSON.stringify(memory()));
    writeFileSync(join(dir, `${process.pid}.collected`), String(collected));
  });
}

/** The Node options that load this file into a Kuzzle node. */
export const collectingNodeArgs = (): string => `--expose-gc --require ${__filename}`;
