import type { CardStore } from '../membership/card-store';
import type { HistogramSnapshot } from '../util/histogram';
import type { RealtimeStore } from './realtime-store';
import type { SharedRecords } from './shared-records';

/** Tells whether the shared state was lost since the last look (see `RedisEpoch`). */
export interface EpochProbe {
  /** Reads (or creates) the epoch; true when it is not the one seen last time. */
  check(): Promise<boolean>;
}

/** What status and metrics read of the realtime store besides the store's own operations. */
export interface RealtimeStoreMetrics {
  /** Rooms in the whole cluster. */
  countRooms(): Promise<number>;
  /** Latency of the store's operations, per operation. */
  scriptLatency(): Record<string, HistogramSnapshot>;
}

/**
 * A key one node alone writes, holding a value it chooses: how the Kuzzle
 * glue tells whether another Redis client (Kuzzle's memoryStorage) reaches
 * the database of the shared state (see plugin/memory-storage-probe).
 */
export interface StateMark {
  /** The key's name, as another client of the same database names it. */
  readonly key: string;
  write(value: string, ttlMs: number): Promise<void>;
  read(): Promise<string | null>;
}

/**
 * Everything a node keeps in the shared state: the cards nodes find each
 * other by, the realtime rooms, the epoch that tells a lost state, and the
 * Kuzzle-wide records. Redis in production (`RedisSharedState`); unit tests
 * run nodes on an in-memory one.
 */
export interface SharedState {
  readonly cards: CardStore;
  readonly realtime: RealtimeStore & RealtimeStoreMetrics;
  readonly epoch: EpochProbe;
  /** A named set of records kept across node restarts. */
  records(name: string): SharedRecords;
  /** The mark of one node (see {@link StateMark}). */
  mark(nodeId: string): StateMark;
  /**
   * Resolves once the state answers (bounded); rejects saying why, never
   * with a credential.
   */
  connect(): Promise<void>;
  /** Closes the connections; idempotent. */
  close(): void;
}
