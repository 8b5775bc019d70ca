import { MemoryRealtimeStore } from '../support/memory-realtime-store';
import { realtimeStoreContract } from '../support/realtime-store-contract';

// The double the realtime sync's unit tests use follows the same contract as the Redis store.
realtimeStoreContract('in-memory double', async () => new MemoryRealtimeStore());
