import type { MemoryStorageStats, SharesRedis } from '../api/glue-status';

/**
 * How the plugin's keys start: its state (`kpc:<clusterName>:…`, see
 * state/keys, every cluster's whatever its name) and its token-refresh
 * records in Kuzzle's internalCache (`kpc/token-refresh/…`).
 */
export const PLUGIN_KEY_PREFIXES = ['kpc:', 'kpc/'] as const;

/** Tries of `randomkey` before answering null when it keeps drawing the plugin's keys. */
const RANDOM_KEY_TRIES = 8;

type Answerer = (...args: never[]) => unknown;
/** Kuzzle's `core:cache:public:execute` answerer: a Redis command and its arguments. */
export type Execute = (command: string, ...args: unknown[]) => Promise<unknown>;

/** Kuzzle's asks behind its memoryStorage API (`ms:*`) and the SDK's `ms` of other plugins. */
const EXECUTE = 'core:cache:public:execute';
const M_EXECUTE = 'core:cache:public:mExecute';
/** Asks of the public cache whose arguments are keys (or a key and its value). */
const KEYED_ASKS = ['core:cache:public:del', 'core:cache:public:get', 'core:cache:public:store', 'core:cache:public:expire', 'core:cache:public:persist'] as const;

/** How a refusal starts, by how sure the node is that the database is shared. */
const SHARED = 'memoryStorage shares its Redis database with the cluster plugin';
const MAY_SHARE = 'memoryStorage may share its Redis database with the cluster plugin (not known yet, or it could not be told)';

/**
 * Every string a command's arguments hold, as Redis will see them: ioredis
 * spreads arrays (one level; deeper ones are spread here too, to look at
 * every string), for some commands objects and Maps into their keys and
 * values, and sends anything else as `String(value)` (an object of another
 * class than Object, e.g. `new String('…')`, from a plugin); a Buffer is
 * its bytes.
 */
function tokensOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Buffer.isBuffer(value)) out.push(value.toString('latin1'));
  else if (Array.isArray(value)) for (const item of value) tokensOf(item, out);
  else if (value instanceof Map) for (const entry of value) tokensOf(entry, out);
  else if (value !== null && typeof value === 'object') {
    if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) out.push(String(value));
    for (const entry of Object.entries(value)) tokensOf(entry, out);
  } else if (value !== undefined && value !== null) out.push(String(value));
  return out;
}

/** Whether a token names a plugin key, as given or once memoryStorage's key prefix is added. */
const pluginKey = (token: string, keyPrefixes: readonly string[]): boolean =>
  PLUGIN_KEY_PREFIXES.some((prefix) => token.startsWith(prefix) || keyPrefixes.some((added) => (added + token).startsWith(prefix)));

const namesPluginKey = (value: unknown, keyPrefixes: readonly string[] = []): boolean => tokensOf(value).some((token) => pluginKey(token, keyPrefixes));

/**
 * `SORT key BY pattern` and `GET pattern` read the keys the list's elements
 * name through the pattern's `*`: elements written for that (or a pattern
 * such as `k*` with elements `pc:…`) would read the plugin's keys. A pattern
 * without `*` reads no other key (and `#` is the element itself). Options
 * are looked for among every token, wherever they were nested (Kuzzle
 * passes `store` as given: an array there adds options).
 */
function sortReadsOtherKeys(tokens: readonly string[]): boolean {
  for (let i = 1; i < tokens.length - 1; i++) {
    const option = (tokens[i] ?? '').toUpperCase();
    if ((option === 'BY' || option === 'GET') && (tokens[i + 1] ?? '').includes('*')) return true;
  }
  return false;
}

/**
 * Why a command must not run on a Redis database the plugin may share, or
 * undefined. `why` says how sure the sharing is, for the error message.
 */
export function refusalOf(command: string, args: readonly unknown[], why = SHARED, keyPrefixes: readonly string[] = []): string | undefined {
  const tokens = tokensOf(args);
  if (tokens.some((token) => pluginKey(token, keyPrefixes))) {
    return `${why}: keys starting with ${PLUGIN_KEY_PREFIXES.map((prefix) => `"${prefix}"`).join(' or ')} are the cluster's and cannot be used through memoryStorage`;
  }
  // SORT_RO too, for a Redis that has it.
  if (command.toLowerCase().startsWith('sort') && sortReadsOtherKeys(tokens)) return `${why}: sort cannot read other keys through a "*" pattern (by, get) there`;
  return undefined;
}

/** The command's result without the plugin's key names, and how many were taken out. */
export function withoutPluginKeys(command: string, result: unknown): { result: unknown; hidden: number } {
  const names = (list: unknown[]): { list: unknown[]; hidden: number } => {
    const kept = list.filter((name) => !namesPluginKey(name));
    return { list: kept, hidden: list.length - kept.length };
  };
  switch (command.toLowerCase()) {
    case 'keys': {
      if (!Array.isArray(result)) break;
      const { list, hidden } = names(result);
      return { result: list, hidden };
    }
    case 'scan': {
      if (!Array.isArray(result) || !Array.isArray(result[1])) break;
      const { list, hidden } = names(result[1] as unknown[]);
      return { result: [result[0], list], hidden };
    }
    case 'randomkey':
      if (namesPluginKey(result)) return { result: null, hidden: 1 };
      break;
  }
  return { result, hidden: 0 };
}

/**
 * Kuzzle's memoryStorage API takes raw key names: on a Redis database the
 * plugin also uses (one database for everything on a Redis Cluster, or
 * `services.memoryStorage.database` set to the plugin's), a user allowed
 * `ms:*` actions could delete the cluster's shared state or plant rooms.
 * Placed in front of Kuzzle's public-cache asks, the guard refuses a
 * command naming a plugin key (by its prefix, in any argument), refuses
 * `sort` patterns that read other keys, and hides the plugin's keys from
 * `keys`, `scan` and `randomkey`, while the databases are shared or not yet
 * known to differ. `flushdb` is left to Kuzzle: it erases the shared state
 * as a Redis data loss does, which the nodes detect and repair.
 */
export class MemoryStorageGuard {
  private sharesRedis: SharesRedis = 'unknown';
  private refused = 0;
  private hidden = 0;

  constructor(
    private readonly forbidden: (message: string) => Error,
    /** memoryStorage's key prefixes (see keyPrefixesOf): key arguments get them, patterns do not. */
    private readonly keyPrefixes: readonly string[] = [],
  ) {}

  /** Whether commands are checked: until a probe has shown that the databases differ. */
  get guarded(): boolean {
    return this.sharesRedis !== 'no';
  }

  /**
   * What a probe found; undefined (it failed) keeps the guard. Once seen
   * shared, always shared: the databases do not move while Kuzzle runs, and
   * a later probe that misses the card (a failover that lost it) is wrong.
   */
  settle(shares: boolean | undefined): void {
    if (this.sharesRedis === 'yes') return;
    this.sharesRedis = shares === undefined ? 'unknown' : shares ? 'yes' : 'no';
  }

  /** Whether the databases are known to be shared (no probe can change it any more). */
  get knownShared(): boolean {
    return this.sharesRedis === 'yes';
  }

  stats(): MemoryStorageStats {
    return { sharesRedis: this.sharesRedis, guarded: this.guarded, refused: this.refused, hidden: this.hidden };
  }

  /**
   * Wraps Kuzzle's answerers of the public-cache asks.
   * @returns Kuzzle's own `execute` answerer, for the probe (whose key the guard would refuse).
   * @throws Error when this Kuzzle lacks one of them.
   */
  install(answerers: Map<string, Answerer>): Execute {
    const original = (ask: string): ((...args: unknown[]) => unknown) => {
      const answerer = answerers.get(ask);
      if (!answerer) throw new Error(`[cluster] this Kuzzle has no ${ask} answerer to guard its memoryStorage API with`);
      return answerer as (...args: unknown[]) => unknown;
    };
    const execute = original(EXECUTE);
    const mExecute = original(M_EXECUTE);
    const rawExecute: Execute = async (command, ...args) => execute(command, ...args);
    answerers.set(EXECUTE, ((command: string, ...args: unknown[]) => this.execute(rawExecute, command, args)) as Answerer);
    answerers.set(M_EXECUTE, ((commands: unknown) => this.mExecute(mExecute, commands)) as Answerer);
    for (const ask of KEYED_ASKS) {
      const answer = original(ask);
      answerers.set(ask, ((...args: unknown[]) => this.check(ask.slice(ask.lastIndexOf(':') + 1), args).then(() => answer(...args))) as Answerer);
    }
    return rawExecute;
  }

  private async check(command: string, args: readonly unknown[]): Promise<void> {
    if (!this.guarded) return;
    const refusal = refusalOf(command, args, this.knownShared ? SHARED : MAY_SHARE, this.keyPrefixes);
    if (refusal === undefined) return;
    this.refused++;
    throw this.forbidden(refusal);
  }

  private hide(command: string, result: unknown): unknown {
    if (!this.guarded) return result;
    const shown = withoutPluginKeys(command, result);
    this.hidden += shown.hidden;
    return shown.result;
  }

  private async execute(execute: Execute, command: string, args: readonly unknown[]): Promise<unknown> {
    if (!this.guarded) return execute(command, ...args);
    await this.check(command, args);
    if (command.toLowerCase() !== 'randomkey') return this.hide(command, await execute(command, ...args));
    let drawn: unknown = null;
    for (let i = 0; i < RANDOM_KEY_TRIES; i++) {
      drawn = await execute(command, ...args);
      if (!namesPluginKey(drawn)) return drawn;
    }
    return this.hide(command, drawn);
  }

  /** A transaction runs whole or not at all: every command is checked first. */
  private async mExecute(mExecute: (...args: unknown[]) => unknown, commands: unknown): Promise<unknown> {
    if (!this.guarded) return mExecute(commands);
    const list = Array.isArray(commands) ? (commands as unknown[]) : [];
    for (const entry of list) {
      if (Array.isArray(entry)) await this.check(String(entry[0]), entry.slice(1));
      else await this.check('', [entry]);
    }
    const results = await mExecute(commands);
    if (!this.guarded || !Array.isArray(results)) return results;
    // ioredis answers a transaction as [error, result] per command.
    return results.map((pair: unknown, i) => {
      const entry = list[i];
      if (!Array.isArray(pair) || !Array.isArray(entry)) return pair;
      return [pair[0], this.hide(String(entry[0]), pair[1])];
    });
  }
}
