/**
 * Loaded into each Kuzzle node of the scale-out bench (`node --expose-gc
 * --require`, see {@link collectingNodeArgs}), never into a user's node: on
 * SIGUSR2 it runs a full garbage collection and then writes how many it
 * ran to `<KPC_BENCH_GC_DIR>/<pid>.collected`, and the process's memory
 * (`process.memoryUsage()`, in bytes) to `<pid>.memory.json`, so that the bench reads RSS
 * with the garbage of a burst collected, on every node at once and on one
 * Kuzzle alike. (Kuzzle 2.10 handles SIGTRAP, SIGINT, SIGTERM and SIGQUIT;
 * SIGUSR2 is free.)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const collect = (globalThis as { gc?: () => void }).gc;
const dir = process.env.KPC_BENCH_GC_DIR;
let collected = 0;
if (collect && dir) {
  process.on('SIGUSR2', () => {
    collect();
    collected += 1;
    writeFileSync(join(dir, `${process.pid}.memory.json`), JSON.stringify(process.memoryUsage()));
    writeFileSync(join(dir, `${process.pid}.collected`), String(collected));
  });
}

/** The Node options that load this file into a Kuzzle node. */
export const collectingNodeArgs = (): string => `--expose-gc --require ${__filename}`;
