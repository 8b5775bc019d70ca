import { clusterPrefix } from './keys';

/**
 * Every Redis command the plugin sends, ioredis' own included (the ready
 * checks: INFO, CLUSTER INFO; the slot map: CLUSTER SLOTS) and those its
 * Lua scripts call (Redis checks a script's calls against the user too).
 * Scripts are sent with EVALSHA, and EVAL when Redis does not have them yet.
 */
export const PLUGIN_REDIS_COMMANDS = [
  'ping', 'info', 'cluster|info', 'cluster|slots',
  'multi', 'exec', 'evalsha', 'eval',
  'get', 'set', 'del', 'exists', 'incr',
  'hset', 'hsetnx', 'hget', 'hmget', 'hdel', 'hlen', 'hgetall', 'hscan', 'hexists', 'hincrby',
  'sadd', 'srem', 'smembers', 'scard', 'sscan',
  'zadd', 'zrem', 'zscore',
] as const;

/**
 * The rules of a Redis ACL user with what the plugin needs and nothing
 * else: its own keys (`kpc:<clusterName>:*`), no Pub/Sub channel, the
 * commands of {@link PLUGIN_REDIS_COMMANDS}. Add the password (`>…`) and,
 * with `database` other than 0 on a standalone Redis, `+select`.
 */
export function pluginAclRules(clusterName: string): string[] {
  return ['on', 'resetkeys', `~${clusterPrefix(clusterName)}:*`, 'resetchannels', '-@all', ...PLUGIN_REDIS_COMMANDS.map((command) => `+${command}`)];
}

/** The `ACL SETUSER` command README shows, for a user and a cluster name. */
export function aclSetUser(user: string, clusterName: string, password = '<password>'): string {
  return ['ACL SETUSER', user, ...pluginAclRules(clusterName), `>${password}`].join(' ');
}
