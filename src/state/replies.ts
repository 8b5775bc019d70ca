import { CorruptStateError, parseStoredJson } from './errors';

/**
 * Decoders of script replies and stored values: Redis hands back untyped
 * nested arrays and strings, checked here so that the rest of the module
 * works on typed values.
 */

function fail(what: string, reply: unknown): never {
  throw new CorruptStateError(`unexpected ${what} reply from Redis: ${JSON.stringify(reply)}`);
}

export function asArray(value: unknown, what: string): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : fail(what, value);
}

export function asInteger(value: unknown, what: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : fail(what, value);
}

function asString(value: unknown, what: string): string {
  return typeof value === 'string' ? value : fail(what, value);
}

export function asStrings(value: unknown, what: string): string[] {
  return asArray(value, what).map((item) => asString(item, what));
}

/** The stored value of a room (`rooms` hash). */
export function encodeRoom(filters: unknown): string {
  return JSON.stringify({ filters: filters ?? null });
}

/** Parses a room's stored JSON; `key` names the hash for error reports. */
export function decodeRoom(json: string, key: string): { filters: unknown } {
  const value = parseStoredJson(json, key);
  if (typeof value !== 'object' || value === null || !('filters' in value)) {
    throw new CorruptStateError(`room stored in ${key} is not {filters}: ${json.slice(0, 200)}`, key);
  }
  return { filters: (value as { filters: unknown }).filters };
}

/** Parses a `[index, collection]` reference (global sets, room index). */
export function decodeCollectionRef(json: string, key: string): { index: string; collection: string } {
  const value = parseStoredJson(json, key);
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
    return { index: value[0], collection: value[1] };
  }
  throw new CorruptStateError(`not an [index, collection] pair in ${key}: ${json.slice(0, 200)}`, key);
}
