import type { ChainableCommander } from 'ioredis';

/**
 * Runs a MULTI or a pipeline and fails if any command in it failed: ioredis
 * resolves `exec()` with per-command errors inside the result instead of
 * rejecting.
 */
export async function execAll(multi: ChainableCommander): Promise<unknown[]> {
  const results = await multi.exec();
  if (results === null) throw new Error('Redis transaction aborted');
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
