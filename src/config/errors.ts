import { ClusterError } from '../util/cluster-error';

/** A plugin option has a bad value; the message names the key. */
export class ConfigError extends ClusterError {
  override readonly name = 'ConfigError';
  constructor(readonly key: string, message: string) {
    super('KPC_BAD_CONFIG', `invalid configuration "${key}": ${message}`);
  }
}
