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
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKuzzleRelease, loadError } from './kuzzle-release.mjs';
import { minutes, runMatrix } from './matrix-tier.mjs';

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
const results = [];
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
      continue;
    }
    console.log(`kuzzle ${version}: installed in ${minutes(prepareMs)} (${kuzzleRoot})`);
    installs.set(version, { prepareMs, env: { KPC_KUZZLE_ROOT: kuzzleRoot } });
  } catch (error) {
    console.log(`\nkuzzle ${version}: could not be installed:\n${error.message}`);
    results.push({ version, prepareMs: Date.now() - started, testMs: 0, pass: 0, fail: 1, note: 'install failed' });
  }
}

// 2. One Elasticsearch, the test files once per release, the table.
await runMatrix({
  name: 'kuzzle-versions',
  order: versions,
  setups: installs,
  results,
  files,
  heading: (version) => `Kuzzle ${version}`,
  label: (version) => `kuzzle ${version}`,
  columns: ['kuzzle', 8, 'install'],
  started: tierStart,
});
