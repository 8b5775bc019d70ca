import { ConfigError } from './errors';

/**
 * Validators of raw configuration values; each error names the key and the
 * kind of value found, never the value itself (it may be a secret put in
 * the wrong place).
 */

/** What a bad value is, without what it says: "a string of 40 characters", "an array", "null". */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value === 'undefined' ? 'nothing' : `a ${typeof value}`}`;
}

export function asObject(key: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(key, `expected an object, got ${kindOf(value)}`);
  }
  return value as Record<string, unknown>;
}

/** An integer in [min, max]; strings are accepted since environment variables reach Kuzzle's config as strings. */
export function integer(key: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(key, `expected an integer ${range}, got ${kindOf(value)}`);
  }
  return number;
}

export function nonEmptyString(key: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(key, `expected a non-empty string, got ${kindOf(value)}`);
  }
  return value;
}

/** A boolean; "true" and "false" are accepted as environment variables give them. */
export function boolean(key: string, value: unknown): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(key, `expected true or false, got ${kindOf(value)}`);
}
