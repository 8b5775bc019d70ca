import type { Log } from '../log';
import type { PluginContextLike } from './kuzzle-types';

/** Logs through Kuzzle's plugin logger, which already prefixes the plugin name. */
export function pluginLog(context: PluginContextLike): Log {
  return (level, message) => context.log[level](message.replace(/^\[cluster\] /, ''));
}
