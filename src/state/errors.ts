import { ClusterError } from '../util/cluster-error';
import { describeError } from '../util/describe-error';

/**
 * Errors of the shared state. Lua scripts report domain failures as
 * `redis.error_reply('KPC_<CODE> <details>')`; {@link translateScriptError}
 * is the one place turning those codes into classes.
 */

/** A subscriber count that is not a positive integer (or >= 0 where allowed). */
export class InvalidCountError extends ClusterError {
  override readonly name = 'InvalidCountError';
  constructor(message: string) {
    super('KPC_INVALID_COUNT', message);
  }
}

/** A room had to be created but no filters were given for it. */
export class MissingFiltersError extends ClusterError {
  override readonly name = 'MissingFiltersError';
  constructor(message: string) {
    super('KPC_MISSING_FILTERS', message);
  }
}

/** Stored data (JSON or script reply) does not have the expected shape. */
export class CorruptStateError extends ClusterError {
  override readonly name = 'CorruptStateError';
  constructor(message: string, readonly key?: string, cause?: unknown) {
    super('KPC_CORRUPT_STATE', message, { cause });
  }
}

const byCode: Record<string, (message: string) => ClusterError> = {
  KPC_INVALID_COUNT: (m) => new InvalidCountError(m),
  KPC_MISSING_FILTERS: (m) => new MissingFiltersError(m),
  KPC_CORRUPT_STATE: (m) => new CorruptStateError(m),
};

/**
 * Maps a Redis reply error carrying a `KPC_*` code to its class; any other
 * error (connection, CROSSSLOT, ...) is returned unchanged.
 */
export function translateScriptError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  // Redis may prefix the reply (e.g. "ERR"), so look for the code anywhere.
  const match = /\b(KPC_[A-Z_]+)\b\s*(.*)/s.exec(error.message);
  if (!match) return error;
  const make = byCode[match[1] ?? ''];
  return make ? make(`${match[1]}: ${match[2] ?? ''}`.trim()) : error;
}

/** Parses stored JSON, reporting garbage as a {@link CorruptStateError}. */
export function parseStoredJson(text: string, key: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new CorruptStateError(`malformed JSON stored in ${key}: ${describeError(error)}`, key, error);
  }
}
