import { spawnSync } from 'node:child_process';
import { watch } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './run-dir';
import type { Stack } from './stack';

/**
 * dev.sh's watch mode: when a file under src/ changes, rebuild, then restart
 * the running nodes one at a time so the cluster stays up meanwhile.
 */
export function rebuildOnChange(stack: Stack, log: (message: string) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  const rebuild = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      log('src/ changed: rebuilding');
      const build = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { stdio: 'inherit' });
      if (build.status !== 0) {
        log('build failed: nodes left as they are');
        return;
      }
      for (const node of stack.nodes.filter((n) => n.alive)) {
        log(`restarting ${node.name}`);
        await node.restart();
      }
      log('all nodes run the new build');
    } catch (error) {
      log(`rebuild failed: ${(error as Error).message}`);
    } finally {
      running = false;
      if (again) {
        again = false;
        void rebuild();
      }
    }
  };
  const watcher = watch(join(repoRoot, 'src'), { recursive: true }, () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void rebuild(), 300);
  });
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}
