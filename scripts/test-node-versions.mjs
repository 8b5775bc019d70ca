// The Node-versions tier (`npm run test:node`): the functional realtime and
// Kuzzle-state tests, with the Kuzzle 2.10.4 nodes (and so the plugin, built
// once in dist/) running on each Node.js version Kuzzle 2.10.4 is used with:
// 12.18.1 (its official Docker image) and the newest 14, 16 and 18. The test
// runner, the harness and the kuzzle-sdk clients stay on the default Node,
// on which `npm run test:functional` already runs every functional test.
//
//   KPC_NODE_VERSIONS   comma-separated versions (default below); "default"
//                       means the Node running this script and the
//                       repository's own Kuzzle
//   TEST_ONLY           the test files (default: the two below)
//
// Each version's Node and Kuzzle (native modules built for it) come from
// scripts/node-runtime.mjs, cached in KPC_CACHE_DIR. One Elasticsearch
// serves every version (or KPC_ES_URL). Ends with "N passed, N failed".
import { join } from 'node:path';
import { minutes, runMatrix } from './matrix-tier.mjs';
import { ensureKuzzle, ensureNode } from './node-runtime.mjs';

const versions = (process.env.KPC_NODE_VERSIONS ?? '12.18.1,14.21.3,16.20.2,18.20.8')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const files = process.env.TEST_ONLY ?? 'realtime-notifications,kuzzle-sync-state';

const results = [];
const tierStart = Date.now();

// 1. Every runtime first: a build failure is reported with its output.
const runtimes = new Map();
for (const version of versions) {
  if (version === 'default') {
    runtimes.set(version, { env: {}, prepareMs: 0 });
    continue;
  }
  const started = Date.now();
  try {
    const nodeDir = ensureNode(version);
    const kuzzleRoot = ensureKuzzle(version, nodeDir);
    const prepareMs = Date.now() - started;
    console.log(`node ${version}: runtime ready in ${minutes(prepareMs)}`);
    runtimes.set(version, {
      prepareMs,
      env: { KPC_KUZZLE_NODE: join(nodeDir, 'bin', 'node'), KPC_KUZZLE_ROOT: kuzzleRoot, KPC_KUZZLE_NODE_VERSION: version },
    });
  } catch (error) {
    console.log(`\nnode ${version}: its Node or Kuzzle could not be prepared:\n${error.message}`);
    results.push({ version, prepareMs: Date.now() - started, testMs: 0, pass: 0, fail: 1, note: 'runtime build failed' });
  }
}

// 2. One Elasticsearch, the test files once per version, the table.
await runMatrix({
  name: 'node-versions',
  order: versions,
  setups: runtimes,
  results,
  files,
  heading: (version) => `Kuzzle nodes on node ${version === 'default' ? process.version : `v${version}`}`,
  label: (version) => `node ${version}`,
  columns: ['node version', 14, 'runtime ready'],
  started: tierStart,
});
