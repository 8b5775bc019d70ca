import { describeError } from '../util/describe-error';

/**
 * Errors of the shared realtime state. Lua scripts report domain failures as
 * `redis.error_reply('KPC_<CODE> <details>')`; {@link translateScriptError} is
 * the one place turning those codes into classes.
 */

/** Base class of every realtime state error. */
export class RealtimeStateError extends Error {
  override readonly name: string = 'RealtimeStateError';
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/**
 * The room list given to a multi-room script misses rooms created meanwhile
 * (the script cannot look keys up itself without breaking cluster rules).
 * The caller re-reads the list and retries.
 */
export class StaleRoomListError extends RealtimeStateError {
  override readonly name = 'StaleRoomListError';
  constructor(message: string) {
    super(message, 'KPC_STALE_ROOMS');
  }
}

/** A subscriber count that is not a positive integer (or >= 0 where allowed). */
export class InvalidCountError extends RealtimeStateError {
  override readonly name = 'InvalidCountError';
  constructor(message: string) {
    super(message, 'KPC_INVALID_COUNT');
  }
}

/** A room had to be created but no filters were given for it. */
export class MissingFiltersError extends RealtimeStateError {
  override readonly name = 'MissingFiltersError';
  constructor(message: string) {
    super(message, 'KPC_MISSING_FILTERS');
  }
}

/** Stored data (JSON or script reply) does not have the expected shape. */
export class CorruptStateError extends RealtimeStateError {
  override readonly name = 'CorruptStateError';
  constructor(message: string, readonly key?: string, readonly cause?: unknown) {
    super(message, 'KPC_CORRUPT_STATE');
  }
}

/** A multi-room operation kept racing with room creations. */
export class TooManyRetriesError extends RealtimeStateError {
  override readonly name = 'TooManyRetriesError';
  constructor(message: string) {
    super(message, 'KPC_TOO_MANY_RETRIES');
  }
}

const byCode: Record<string, (message: string) => RealtimeStateError> = {
  KPC_STALE_ROOMS: (m) => new StaleRoomListError(m),
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
