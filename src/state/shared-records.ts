import type { Cluster, Redis } from 'ioredis';
import type { StateKeys } from './keys';
import { RedisRetry } from './redis-retry';

/**
 * A named set of JSON records kept in Redis for the Kuzzle-wide sync (e.g.
 * the authentication strategies added at run time), so that a node that
 * starts later finds them.
 */
export interface SharedRecords {
  set(name: string, value: unknown): Promise<void>;
  delete(name: string): Promise<void>;
  /** Every record; values that are not valid JSON are skipped. */
  all(): Promise<Array<{ name: string; value: unknown }>>;
}

export class RedisSharedRecords implements SharedRecords {
  private readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    keys: StateKeys,
    collection: string,
    private readonly retry: RedisRetry = RedisRetry.none(),
  ) {
    this.key = keys.records(collection);
  }

  async set(name: string, value: unknown): Promise<void> {
    await this.retry.run('records.set', () => this.redis.hset(this.key, name, JSON.stringify(value)));
  }

  async delete(name: string): Promise<void> {
    await this.retry.run('records.delete', () => this.redis.hdel(this.key, name));
  }

  async all(): Promise<Array<{ name: string; value: unknown }>> {
    const entries = await this.retry.run('records.all', () => this.redis.hgetall(this.key));
    const records: Array<{ name: string; value: unknown }> = [];
    for (const [name, json] of Object.entries(entries)) {
      try {
        records.push({ name, value: JSON.parse(json) as unknown });
      } catch {
        // A corrupted entry is skipped rather than blocking a start.
      }
    }
    return records;
  }
}
