// The functional test file kuzzle-sync-state.test.ts, unchanged, with
// Kuzzle's internalCache on a 3-master Redis Cluster with one replica each, an ACL user and mutual TLS, the plugin following internalCache.
// The environment is set by the first import, before the file's stack is declared.
import './support/on-internal-cluster-tls';
import '../functional/kuzzle-sync-state.test';
