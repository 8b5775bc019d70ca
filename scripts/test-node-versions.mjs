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
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKuzzle, ensureNode } from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const versions = (process.env.KPC_NODE_VERSIONS ?? '12.18.1,14.21.3,16.20.2,18.20.8')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const files = process.env.TEST_ONLY ?? 'realtime-notifications,kuzzle-sync-state';
const minutes = (ms) => `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;

const results = [];
let passed = 0;
let failed = 0;
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
    failed += 1;
  }
}

// 2. One Elasticsearch for every version (the slowest service to start).
let sharedEs;
if (!process.env.KPC_ES_URL && runtimes.size > 0) {
  const { startElasticsearch } = await import(join(root, 'dist/test/harness/elasticsearch.js'));
  const { newRunDir } = await import(join(root, 'dist/test/harness/run-dir.js'));
  try {
    sharedEs = await startElasticsearch(newRunDir('node-versions-es'));
    process.env.KPC_ES_URL = sharedEs.url;
    console.log(`shared Elasticsearch on ${sharedEs.url}`);
  } catch (error) {
    console.log(`\nElasticsearch could not be started: ${error.message}`);
    console.log(`\n0 passed, ${failed + 1} failed`);
    process.exit(1);
  }
}
let child;
const stopAll = async () => {
  child?.kill('SIGTERM');
  if (sharedEs) await sharedEs.stop();
  sharedEs = undefined;
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => void stopAll().then(() => process.exit(130)));
}

// 3. The functional files, once per version, with the same runner as the other tiers.
for (const [version, runtime] of runtimes) {
  console.log(`\n##### Kuzzle nodes on node ${version === 'default' ? process.version : `v${version}`}`);
  const started = Date.now();
  const output = await new Promise((resolve) => {
    let text = '';
    child = spawn(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), 'functional'], {
      cwd: root,
      env: { ...process.env, ...runtime.env, TEST_ONLY: files },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      text += chunk.toString();
    });
    child.once('exit', (code) => resolve({ text, code }));
  });
  child = undefined;
  const testMs = Date.now() - started;
  const summary = /^(\d+) passed, (\d+) failed$/m.exec(output.text.split('\n').reverse().join('\n'));
  let pass = summary ? Number(summary[1]) : 0;
  let fail = summary ? Number(summary[2]) : 1;
  if (output.code !== 0 && fail === 0) fail = 1;
  if (pass + fail === 0) fail = 1; // a version that ran no test is a failure
  passed += pass;
  failed += fail;
  results.push({ version, prepareMs: runtime.prepareMs, testMs, pass, fail });
  console.log(`node ${version}: ${pass} passed, ${fail} failed in ${minutes(testMs)}`);
}

await stopAll();
results.sort((a, b) => versions.indexOf(a.version) - versions.indexOf(b.version));
console.log('\nnode version   runtime ready   tests      passed  failed');
for (const r of results) {
  console.log(
    `${r.version.padEnd(14)} ${minutes(r.prepareMs).padEnd(15)} ${minutes(r.testMs).padEnd(10)} ${String(r.pass).padEnd(7)} ${r.fail}${r.note ? `  (${r.note})` : ''}`,
  );
}
console.log(`tier time: ${minutes(Date.now() - tierStart)}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
