import createDebug from 'debug';
import type { Log } from '../util/log';
import type { KuzzleLogger } from './kuzzle-types';

const debug = createDebug('kuzzle:cluster');

/**
 * Logs through Kuzzle's plugin logger, which already prefixes Kuzzle's node
 * id (also the cluster's id for the node) and the plugin's name; `debug`
 * lines go to the `debug` package (`DEBUG=kuzzle:cluster*`), with the id.
 */
export function pluginLog(logger: KuzzleLogger, nodeId: string): Log {
  return (level, message) => {
    if (level === 'debug') debug('[%s] %s', nodeId, message);
    else logger[level](message);
  };
}
