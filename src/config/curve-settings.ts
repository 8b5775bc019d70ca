import { isCurveKey } from '../transport/curve-keys';
import { ConfigError } from './errors';
import { asObject } from './values';

/** `plugins.cluster.curve`: the cluster's CURVE secret key, and public keys also accepted during a key rollover. */
export interface CurveSettings {
  secretKey: string;
  accept: string[];
}

/** Validates CURVE settings; error messages never repeat a key's value. */
export function parseCurveSettings(key: string, value: unknown): CurveSettings {
  const input = asObject(key, value);
  for (const name of Object.keys(input)) {
    if (name !== 'secretKey' && name !== 'accept') throw new ConfigError(`${key}.${name}`, 'unknown key (expected secretKey and accept)');
  }
  if (!isCurveKey(input.secretKey)) {
    throw new ConfigError(`${key}.secretKey`, 'expected a Z85 CURVE secret key (40 characters): generate one with `npx kuzzle-plugin-cluster keygen`');
  }
  const accept = input.accept ?? [];
  if (!Array.isArray(accept) || !accept.every(isCurveKey)) {
    throw new ConfigError(`${key}.accept`, 'expected a list of Z85 CURVE public keys (40 characters each)');
  }
  return { secretKey: input.secretKey, accept };
}
