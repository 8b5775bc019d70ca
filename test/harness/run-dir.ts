import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (dist/test/harness/ → ../../..). */
export const repoRoot = join(__dirname, '..', '..', '..');

/**
 * A fresh folder under `.stack/` (git-ignored) for one run's logs and data,
 * e.g. `.stack/runs/2026-11-24T21-50-00-123-redis-state`.
 */
export function newRunDir(label: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(process.env.KPC_STACK_DIR ?? join(repoRoot, '.stack'), 'runs', `${stamp}-${label}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
