// The functional test file realtime-notifications.test.ts, unchanged, with
// the plugin on a 3-master Redis Cluster with one replica each, as a least-privilege ACL user (plugins.cluster.redis), Kuzzle's internalCache on a standalone Redis.
// The environment is set by the first import, before the file's stack is declared.
import './support/on-plugin-cluster';
import '../functional/realtime-notifications.test';
