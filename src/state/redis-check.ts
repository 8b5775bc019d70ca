import Redis, { type Cluster, type RedisOptions } from 'ioredis';
import { ClusterError } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import { withTimeout } from '../util/with-timeout';
import { describeRedisTarget, type RedisConnectionOptions } from './redis-client';
import { isTransientRedisError } from './redis-retry';

/** Redis could not be used at start-up: unreachable, wrong credentials, TLS refused. */
export class RedisUnavailableError extends ClusterError {
  override readonly name = 'RedisUnavailableError';
  constructor(message: string, cause?: unknown) {
    super('KPC_REDIS_UNAVAILABLE', message, { cause });
  }
}

/** Secrets of the settings that must never reach a message (an error could echo them). */
function secretsOf(connection: RedisConnectionOptions): string[] {
  const options = connection.options ?? {};
  const tls = typeof options.tls === 'object' && options.tls !== null ? (options.tls as Record<string, unknown>) : {};
  return [options.password, tls.key, tls.passphrase].filter((value): value is string => typeof value === 'string' && value.length > 0);
}

function scrub(message: string, secrets: string[]): string {
  return secrets.reduce((text, secret) => text.split(secret).join('***'), message);
}

/**
 * Connects once to one seed node with the cluster's connection options:
 * ioredis' Cluster client hides why a node refused it (a TLS or credential
 * failure shows only as "Failed to refresh slots cache"), a direct
 * connection tells. Resolves with the failure, or undefined when it answered.
 */
async function probeSeed(node: { host: string; port: number }, options: RedisOptions, timeoutMs: number): Promise<Error | undefined> {
  const probe = new Redis({
    ...options,
    host: node.host,
    port: node.port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
  });
  let seen: Error | undefined;
  probe.on('error', (error: Error) => {
    seen ??= error;
  });
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (error) {
    // The connection's own error (TLS, refused) says more than the command's "Connection is closed".
    const failure = seen ?? (error instanceof Error ? error : new Error(describeError(error)));
    failure.message = `${node.host}:${node.port}: ${failure.message}`;
    return failure;
  } finally {
    probe.disconnect();
  }
}

/**
 * Waits until the client is connected and answers PING, at most
 * `timeoutMs`. A failure that cannot go away by waiting (wrong password or
 * user, TLS refused) ends the wait at once; an unreachable server is
 * waited for until the deadline. The error names the Redis address and
 * the last failure, never the password.
 *
 * @throws RedisUnavailableError
 */
export async function checkRedis(client: Redis | Cluster, connection: RedisConnectionOptions, timeoutMs: number): Promise<void> {
  let lastError: unknown;
  let seedError: Error | undefined;
  let fail: ((error: unknown) => void) | undefined;
  const onError = (error: unknown): void => {
    lastError = error;
    if (!isTransientRedisError(error)) fail?.(error);
  };
  // A cluster reports the error of the node it failed on separately.
  client.on('error', onError);
  client.on('node error', onError);
  try {
    const answered = new Promise<void>((resolve, reject) => {
      fail = reject;
      const ping = (): void => {
        client.ping().then(() => resolve(), reject);
      };
      if (client.status === 'ready') ping();
      else client.once('ready', ping);
      // A cluster's seeds are also asked directly, for a failure ioredis' Cluster client would not show.
      for (const seed of connection.nodes ?? []) {
        void probeSeed(seed, (connection.options ?? {}) as RedisOptions, timeoutMs).then((failure) => {
          if (!failure) return;
          seedError = failure;
          onError(failure);
        });
      }
    });
    await withTimeout(answered, timeoutMs);
  } catch (error) {
    // A seed's own failure names the node and the cause; the cluster client's errors are vaguer.
    const detail = seedError ?? lastError;
    const why = detail !== undefined && detail !== error ? `${describeError(error)} (last error: ${describeError(detail)})` : describeError(error);
    throw new RedisUnavailableError(`cannot use ${describeRedisTarget(connection)}: ${scrub(why, secretsOf(connection))}`, error);
  } finally {
    client.off('error', onError);
    client.off('node error', onError);
  }
}
