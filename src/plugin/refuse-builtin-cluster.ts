import type { KuzzleLike } from './kuzzle-types';

/**
 * Kuzzle 2.11+ ships its own cluster. Two clusters in one process would both
 * try to own realtime state and notifications: refuse to start next to it.
 */
export function assertNoBuiltinCluster(kuzzle: KuzzleLike, kuzzleVersion: string | undefined): void {
  const [major = 0, minor = 0] = (kuzzleVersion ?? '').split('.').map(Number);
  const builtinExists = major > 2 || (major === 2 && minor >= 11);
  if (builtinExists && kuzzle.config.cluster?.enabled !== false) {
    throw new Error(
      `[cluster] Kuzzle ${kuzzleVersion} runs its own cluster: this plugin must not be loaded next to it. ` +
        'Remove the plugin, or set "cluster.enabled: false" in .kuzzlerc to use the plugin instead.',
    );
  }
}
