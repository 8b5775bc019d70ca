/** Whether Kuzzle's memoryStorage reaches the plugin's Redis database, as the probe's rounds found it ('unknown' until they tell). */
export type SharesRedis = 'yes' | 'no' | 'unknown';

/** The guard of Kuzzle's memoryStorage API (see plugin/memory-storage-guard). */
export interface MemoryStorageStats {
  sharesRedis: SharesRedis;
  /** Whether `ms:*` commands are checked: unless the databases were found to differ. */
  guarded: boolean;
  /** Commands refused for naming the plugin's keys (or reading them through a pattern). */
  refused: number;
  /** Plugin key names taken out of `keys`, `scan` and `randomkey` results. */
  hidden: number;
}

/** What the Kuzzle glue adds to the node's status and metrics. */
export interface GlueStatus {
  memoryStorage: MemoryStorageStats;
}
