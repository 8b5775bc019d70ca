import type { ResolvedBinding } from '../config/bindings';
import type { CurveSettings } from '../config/curve-settings';
import { ConfigError } from '../config/errors';
import { curvePublicKey, type CurveKeys } from '../transport/curve-keys';
import type { Log } from '../util/log';

const isLoopback = (host: string): boolean => /^127\./.test(host) || host === '::1' || host === 'localhost';

/** The transport's keys from the settings: the public key is derived from the secret one. */
export function curveKeysOf(settings: CurveSettings): CurveKeys {
  const publicKey = curvePublicKey(settings.secretKey);
  return { publicKey, secretKey: settings.secretKey, accepted: [publicKey, ...settings.accept.filter((key) => key !== publicKey)] };
}

/**
 * Secure by default: without CURVE keys, anyone reaching the cluster ports
 * controls the cluster, so they may only bind loopback addresses, unless
 * the operator says `insecure: true` (then warned at every start).
 *
 * @throws ConfigError naming the binding and how to generate keys.
 */
export function checkExposure(bindings: Array<[string, ResolvedBinding]>, curve: CurveSettings | undefined, insecure: boolean, log: Log): void {
  if (curve) return;
  const exposed = bindings.filter(([, binding]) => !isLoopback(binding.host));
  if (exposed.length === 0) return;
  const where = exposed.map(([key, binding]) => `${key} binds ${binding.host}:${binding.port}`).join(', ');
  if (!insecure) {
    throw new ConfigError(
      exposed[0]?.[0] ?? 'bindings',
      `${where}, which is not a loopback address, and the cluster has no CURVE key: anyone reaching these ports would control the cluster. ` +
        'Generate a key with `npx kuzzle-plugin-cluster keygen` and set plugins.cluster.curve.secretKey (or the vault secret cluster.curve.secretKey) on every node, ' +
        'or set plugins.cluster.insecure: true if every host of that network is trusted',
    );
  }
  log('warn', `INSECURE: ${where} without authentication nor encryption (insecure: true): any host reaching these ports controls the cluster`);
}
