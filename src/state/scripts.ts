import { readdirSync, readFileSync } from 'fs';
import path from 'path';
import type { Cluster, Redis } from 'ioredis';
import { translateScriptError } from './errors';

/**
 * Lua scripts, BullMQ-style: one file per command in `lua/`, named
 * `<commandName>-<numberOfKeys>.lua`, opening with a header that lists
 * KEYS, ARGV and the reply. Shared code lives in `lua/includes/` and is
 * pulled in with `--- @include "includes/<name>"` when the scripts are read.
 * Commands are defined on the client under a versioned name, so that a node
 * running an older plugin never calls a newer script body by mistake
 * (ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT).
 */

/** Bumped whenever a script's contract (keys, arguments, reply) changes. */
export const SCRIPT_VERSION = 5;
const COMMAND_PREFIX = `kpc${SCRIPT_VERSION}_`;

/** Names of the scripts in `lua/`. */
export type ScriptName = 'adjustSubscribers' | 'setOwnerCounts' | 'purgeOwner' | 'listCards' | 'getCard' | 'renewCard' | 'renewAndListCards' | 'indexRooms' | 'dropEntries';

/** One script read from disk, includes resolved. */
export interface ScriptDefinition {
  name: string;
  numberOfKeys: number;
  lua: string;
}

const LUA_DIR = path.join(__dirname, 'lua');
const INCLUDE = /^--- @include "([\w/-]+)"\s*$/gm;
const cache = new Map<string, Map<string, ScriptDefinition>>();

/** Replaces each `--- @include` line by the file it names (once per script, nested includes allowed). */
export function resolveIncludes(lua: string, dir: string, seen = new Set<string>()): string {
  return lua.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return `-- (${name} already included)`;
    seen.add(name);
    const file = path.join(dir, `${name}.lua`);
    return resolveIncludes(readFileSync(file, 'utf8'), dir, seen);
  });
}

/** Reads every `.lua` file of `dir` (default: `lua/` next to this file) once per process. */
export function loadScripts(dir = LUA_DIR): Map<string, ScriptDefinition> {
  const cached = cache.get(dir);
  if (cached) return cached;
  const scripts = new Map<string, ScriptDefinition>();
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.lua')) continue;
    const match = /^([A-Za-z][A-Za-z0-9]*)-(\d+)\.lua$/.exec(file);
    if (!match || match[1] === undefined || match[2] === undefined) {
      throw new Error(`unexpected Lua script name ${file} in ${dir}: expected <commandName>-<numberOfKeys>.lua`);
    }
    scripts.set(match[1], {
      name: match[1],
      numberOfKeys: Number(match[2]),
      lua: resolveIncludes(readFileSync(path.join(dir, file), 'utf8'), dir),
    });
  }
  cache.set(dir, scripts);
  return scripts;
}

type ScriptFunction = (...args: Array<string | number>) => Promise<unknown>;

function commandOf(redis: Redis | Cluster, name: string): ScriptFunction | undefined {
  // defineCommand adds methods at runtime, which ioredis' types cannot know.
  const candidate: unknown = (redis as unknown as Record<string, unknown>)[COMMAND_PREFIX + name];
  return typeof candidate === 'function' ? (candidate as ScriptFunction) : undefined;
}

/** Defines every script on the client; defining twice is a no-op. */
export function defineScripts(redis: Redis | Cluster): void {
  for (const script of loadScripts().values()) {
    if (commandOf(redis, script.name)) continue;
    redis.defineCommand(COMMAND_PREFIX + script.name, { lua: script.lua, numberOfKeys: script.numberOfKeys });
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
  if (!script || !command) throw new Error(`script ${name} is not defined: call defineScripts() first`);
  if (script.numberOfKeys !== keys.length) throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  try {
    return await command.apply(redis, [...keys, ...args]);
  } catch (error) {
    throw translateScriptError(error);
  }
}
