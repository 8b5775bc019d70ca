// Imported first by a redis-tier file that reruns a functional test file:
// its stack then gives the plugin a 3+3 Redis Cluster, as an ACL user with README's least-privilege rules,
// through plugins.cluster.redis (see harness/redis-modes.ts).
process.env.KPC_STACK_REDIS = 'plugin-cluster';
