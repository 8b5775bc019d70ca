// Imported first by a redis-tier file that reruns a functional test file:
// its stack puts Kuzzle's internalCache on a 3+3 Redis Cluster with an ACL
// user and mutual TLS, and the plugin follows internalCache (see
// harness/redis-modes.ts).
process.env.KPC_STACK_REDIS = 'internal-cluster-tls';
