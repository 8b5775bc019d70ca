/** A plugin option has a bad value; the message names the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly key: string, message: string) {
    super(`[cluster] invalid configuration "${key}": ${message}`);
  }
}
