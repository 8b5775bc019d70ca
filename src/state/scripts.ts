import { readdirSync, readFileSync } from 'fs';
import path from 'path';
import type { Cluster, Redis } from 'ioredis';
import { translateScriptError } from './errors';

/**
 * Lua scripts of the realtime state, BullMQ-style: one file per script in
 * `lua/`, named `<commandName>-<numberOfKeys>.lua`, or `<commandName>.lua`
 * for variadic scripts whose caller passes the key count at each call.
 * They are defined on the client under a versioned name, so that a node
 * running an older plugin never calls a newer script body by mistake
 * (ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT).
 */

/** Bumped whenever a script's contract (keys, arguments, reply) changes. */
export const SCRIPT_VERSION = 1;
const COMMAND_PREFIX = `kpc${SCRIPT_VERSION}_`;

/** Names of the scripts in `lua/`. */
export type ScriptName = 'addSubscriber' | 'removeSubscriber' | 'countRoom' | 'setNodeCounts' | 'getCollection';

/** One script read from disk. */
export interface ScriptDefinition {
  name: string;
  /** Undefined for variadic scripts. */
  numberOfKeys: number | undefined;
  lua: string;
}

const LUA_DIR = path.join(__dirname, 'lua');
const cache = new Map<string, Map<string, ScriptDefinition>>();

/** Reads every `.lua` file of `dir` (default: `lua/` next to this file) once per process. */
export function loadScripts(dir = LUA_DIR): Map<string, ScriptDefinition> {
  const cached = cache.get(dir);
  if (cached) return cached;
  const scripts = new Map<string, ScriptDefinition>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.lua')) continue;
    const match = /^([A-Za-z][A-Za-z0-9]*)(?:-(\d+))?\.lua$/.exec(file);
    if (!match || match[1] === undefined) throw new Error(`unexpected Lua script name ${file} in ${dir}`);
    scripts.set(match[1], {
      name: match[1],
      numberOfKeys: match[2] === undefined ? undefined : Number(match[2]),
      lua: readFileSync(path.join(dir, file), 'utf8'),
    });
  }
  cache.set(dir, scripts);
  return scripts;
}

type ScriptFunction = (...args: Array<string | number>) => Promise<unknown>;

function commandOf(redis: Redis | Cluster, name: string): ScriptFunction | undefined {
  // defineCommand adds methods at runtime; TypeScript cannot know them.
  const candidate: unknown = (redis as unknown as Record<string, unknown>)[COMMAND_PREFIX + name];
  return typeof candidate === 'function' ? (candidate as ScriptFunction) : undefined;
}

/** Defines every script on the client; defining twice is a no-op. */
export function defineScripts(redis: Redis | Cluster): void {
  for (const script of loadScripts().values()) {
    if (commandOf(redis, script.name)) continue;
    redis.defineCommand(COMMAND_PREFIX + script.name, {
      lua: script.lua,
      ...(script.numberOfKeys === undefined ? {} : { numberOfKeys: script.numberOfKeys }),
    });
  }
}

/**
 * Runs one script. Its reply is returned undecoded (see `replies.ts`), and
 * `KPC_*` error replies become the classes of `errors.ts`.
 */
export async function runScript(
  redis: Redis | Cluster,
  name: ScriptName,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown> {
  const script = loadScripts().get(name);
  const command = commandOf(redis, name);
  if (!script || !command) throw new Error(`realtime state script ${name} is not defined: call init() first`);
  if (script.numberOfKeys !== undefined && script.numberOfKeys !== keys.length) {
    throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  const call = script.numberOfKeys === undefined ? [keys.length, ...keys, ...args] : [...keys, ...args];
  try {
    return await command.apply(redis, call);
  } catch (error) {
    throw translateScriptError(error);
  }
}
