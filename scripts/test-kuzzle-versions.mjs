// The Kuzzle-versions tier (`npm run test:kuzzle`): the functional realtime
// and Kuzzle-state tests against each Kuzzle 2.x release of the npm registry
// that predates Kuzzle's own cluster (2.11): 2.4.0, 2.9.1 and 2.10.4. The
// Kuzzle nodes, the plugin (built once in dist/), the test runner and the
// kuzzle-sdk clients run on the default Node.
//
//   KPC_KUZZLE_VERSIONS   comma-separated releases (default below)
//   TEST_ONLY             the test files (default: the two below)
//
// A release equal to the repository's own Kuzzle (devDependencies) runs on
// node_modules/kuzzle; the others are installed once each by
// scripts/kuzzle-release.mjs, cached in KPC_CACHE_DIR. One Elasticsearch
// serves every release (or KPC_ES_URL). Ends with "N passed, N failed".
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKuzzleRelease, loadError } from './kuzzle-release.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const versions = (process.env.KPC_KUZZLE_VERSIONS ?? '2.4.0,2.9.1,2.10.4')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const files = process.env.TEST_ONLY ?? 'realtime-notifications,kuzzle-sync-state';
const ownKuzzle = JSON.parse(readFileSync(join(root, 'node_modules', 'kuzzle', 'package.json'), 'utf8')).version;
/**
 * Releases that cannot run at all, whatever the plugin does, with the
 * evidence: the tier checks every run that they still fail exactly so (one
 * passing check each), and fails if one starts loading (then test it).
 */
const UNSTARTABLE = {
  '2.4.0': {
    evidence: /Cannot find module '\.\/2-api'/,
    why: "its npm package (188 files) lacks lib/kerror/codes/*.json, so require('kuzzle') fails: Cannot find module './2-api'",
  },
};
// Rounded to the second first, so that 179.6 s reads 3m00s, not 2m60s.
const minutes = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
};

const results = [];
let passed = 0;
let failed = 0;
const tierStart = Date.now();

// 1. Every install first: one that fails is reported with npm's output.
const installs = new Map();
for (const version of versions) {
  if (version === ownKuzzle) {
    installs.set(version, { prepareMs: 0, env: {} });
    continue;
  }
  const started = Date.now();
  try {
    const kuzzleRoot = ensureKuzzleRelease(version);
    const prepareMs = Date.now() - started;
    const error = loadError(kuzzleRoot);
    const unstartable = UNSTARTABLE[version];
    if (error || unstartable) {
      const confirmed = Boolean(error && unstartable?.evidence.test(error));
      console.log(`\nkuzzle ${version}: ${error ? `does not load: ${error}` : 'loads'}${unstartable ? (confirmed ? ` (known: ${unstartable.why})` : ' (recorded as unstartable: evidence no longer holds, test it)') : ''}`);
      results.push({ version, prepareMs, testMs: 0, pass: confirmed ? 1 : 0, fail: confirmed ? 0 : 1, note: confirmed ? 'cannot start: evidence re-checked' : 'does not load' });
      if (confirmed) passed += 1;
      else failed += 1;
      continue;
    }
    console.log(`kuzzle ${version}: installed in ${minutes(prepareMs)} (${kuzzleRoot})`);
    installs.set(version, { prepareMs, env: { KPC_KUZZLE_ROOT: kuzzleRoot } });
  } catch (error) {
    console.log(`\nkuzzle ${version}: could not be installed:\n${error.message}`);
    results.push({ version, prepareMs: Date.now() - started, testMs: 0, pass: 0, fail: 1, note: 'install failed' });
    failed += 1;
  }
}

// 2. One Elasticsearch for every release (the slowest service to start).
let sharedEs;
if (!process.env.KPC_ES_URL && installs.size > 0) {
  const { startElasticsearch } = await import(join(root, 'dist/test/harness/elasticsearch.js'));
  const { newRunDir } = await import(join(root, 'dist/test/harness/run-dir.js'));
  try {
    sharedEs = await startElasticsearch(newRunDir('kuzzle-versions-es'));
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

// 3. The functional files, once per release, with the same runner as the other tiers.
for (const [version, install] of installs) {
  console.log(`\n##### Kuzzle ${version}`);
  const started = Date.now();
  const output = await new Promise((resolve) => {
    let text = '';
    child = spawn(process.execPath, [join(root, 'scripts', 'run-tests.mjs'), 'functional'], {
      cwd: root,
      env: { ...process.env, ...install.env, TEST_ONLY: files },
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
  const pass = summary ? Number(summary[1]) : 0;
  let fail = summary ? Number(summary[2]) : 1;
  if (output.code !== 0 && fail === 0) fail = 1;
  if (pass + fail === 0) fail = 1; // a release that ran no test is a failure
  passed += pass;
  failed += fail;
  results.push({ version, prepareMs: install.prepareMs, testMs, pass, fail });
  console.log(`kuzzle ${version}: ${pass} passed, ${fail} failed in ${minutes(testMs)}`);
}

await stopAll();
results.sort((a, b) => versions.indexOf(a.version) - versions.indexOf(b.version));
console.log('\nkuzzle   install    tests      passed  failed');
for (const r of results) {
  console.log(
    `${r.version.padEnd(8)} ${minutes(r.prepareMs).padEnd(10)} ${minutes(r.testMs).padEnd(10)} ${String(r.pass).padEnd(7)} ${r.fail}${r.note ? `  (${r.note})` : ''}`,
  );
}
console.log(`tier time: ${minutes(Date.now() - tierStart)}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
