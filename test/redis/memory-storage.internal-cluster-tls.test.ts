// The functional test file memory-storage.test.ts, unchanged, with Kuzzle's
// internalCache and memoryStorage on one 3-master Redis Cluster (one replica
// each, an ACL user, mutual TLS) and the plugin following internalCache:
// one Redis database for everything, as a Redis Cluster has.
// The environment is set by the first import, before the file's stack is declared.
import './support/on-internal-cluster-tls';
import '../functional/memory-storage.test';
