import { v4 as uuidv4 } from 'uuid';
import type { Cluster, Redis } from 'ioredis';
import type { StateKeys } from './keys';

/**
 * A token written once in Redis by the first node that finds none. Every
 * node reads it regularly: when it is missing or different from the one the
 * node knew, Redis lost the cluster's keys (restarted empty, flushed), and
 * every node writes its live state back.
 */
export class RedisEpoch {
  private known: string | undefined;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly keys: StateKeys,
  ) {}

  /** Reads (or creates) the epoch; true when it is not the one seen last time. */
  async check(): Promise<boolean> {
    let token = await this.redis.get(this.keys.epoch);
    if (token === null) {
      const candidate = uuidv4();
      await this.redis.set(this.keys.epoch, candidate, 'NX');
      token = await this.redis.get(this.keys.epoch);
    }
    const changed = this.known !== undefined && token !== this.known;
    this.known = token ?? undefined;
    return changed;
  }
}
