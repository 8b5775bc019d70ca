import { parseCurveSettings, type CurveSettings } from '../config/curve-settings';
import { isObject } from '../util/guards';

/**
 * The cluster's CURVE settings from Kuzzle's vault (secrets file decrypted
 * with the vault key at start-up), under `cluster.curve`: how a secret key
 * stays out of .kuzzlerc and environment variables.
 */
export function curveFromVault(kuzzle: { vault?: { secrets?: unknown } | null }): CurveSettings | undefined {
  const secrets = kuzzle.vault?.secrets;
  const cluster = isObject(secrets) ? secrets.cluster : undefined;
  const curve = isObject(cluster) ? cluster.curve : undefined;
  return curve === undefined ? undefined : parseCurveSettings('vault secret cluster.curve', curve);
}
