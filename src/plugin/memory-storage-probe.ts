import { clusterPrefix, StateKeys } from '../state/keys';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';

type Execute = (command: string, ...args: unknown[]) => Promise<unknown>;

/**
 * Whether Kuzzle's memoryStorage reaches the plugin's Redis database,
 * asked of Redis rather than guessed from two configurations (host names,
 * databases and Redis Cluster seeds can name one server in many ways):
 * through memoryStorage's own client (`execute`, Kuzzle's unguarded
 * answerer), does this node's card exist, which the plugin wrote through
 * its own client when the node joined? A memoryStorage user that Redis
 * itself refuses the plugin's keys (an ACL: NOPERM) cannot touch them
 * either, so that counts as not shared.
 *
 * @returns undefined when the probe failed otherwise: the guard stays on.
 */
export async function memoryStorageSharesRedis(execute: Execute, clusterName: string, nodeId: string, log: Log): Promise<boolean | undefined> {
  try {
    const shares = (await execute('hexists', new StateKeys(clusterPrefix(clusterName)).cards, nodeId)) === 1;
    if (shares) log('info', "memoryStorage shares the plugin's Redis database: ms:* commands naming the plugin's keys are refused, and its keys hidden from their results");
    return shares;
  } catch (error) {
    if (/NOPERM/.test(describeError(error))) return false;
    log('warn', `could not tell whether memoryStorage shares the plugin's Redis database (${describeError(error)}): ms:* commands stay checked for the plugin's keys`);
    return undefined;
  }
}
