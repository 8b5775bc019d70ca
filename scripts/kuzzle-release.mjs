// Installs, in the cache folder (KPC_CACHE_DIR, default
// /var/cache/kuzzle-plugin-cluster), a Kuzzle release from the npm registry
// for the compatibility tier (scripts/test-kuzzle-versions.mjs):
//
//   kuzzle-release/<kuzzle version>-node<node version>-<hash>/node_modules/kuzzle
//
// installed once with `npm install kuzzle@<version>` (install scripts on, so
// its native modules build for the Node running this script) and the same
// `overrides` as this repository's package.json: Kuzzle's zeromq@5, which
// cannot build offline and which no 2.x release before 2.11 loads, is mapped
// to our zeromq 6. <hash> covers that package.json: changing the recipe or
// our overrides makes a new install. A failed install leaves nothing behind
// but its error, which carries the end of npm's output (the evidence when a
// release cannot be built here); a release that installs but does not load
// is kept, and {@link loadError} says why.
//
// Usage: node scripts/kuzzle-release.mjs 2.9.1 [2.4.0 …]  (prints each Kuzzle root)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, publish, removeOthers } from './node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Bump when the way a release is installed changes: older installs are then ignored. */
const RECIPE = '1';

const log = (message) => console.log(`[kuzzle-release] ${message}`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** The package.json a release is installed from: our zeromq and our overrides of Kuzzle's tree. */
export function releaseManifest(version) {
  const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  return {
    name: `kpc-kuzzle-${version.replace(/\./g, '-')}`,
    private: true,
    description: `Kuzzle ${version} for the compatibility tier of kuzzle-plugin-cluster`,
    dependencies: { kuzzle: version, zeromq: ours.dependencies.zeromq },
    overrides: { kuzzle: ours.overrides.kuzzle },
    // npm 11 runs install scripts of the packages listed here only.
    allowScripts: ours.allowScripts,
  };
}

/** Kuzzle `version` installed for the running Node: returns its root (…/node_modules/kuzzle). */
export function ensureKuzzleRelease(version) {
  const manifest = `${JSON.stringify(releaseManifest(version), null, 2)}\n`;
  const hash = createHash('sha256').update(RECIPE).update(manifest).digest('hex').slice(0, 12);
  const base = join(cacheDir, 'kuzzle-release');
  const dest = join(base, `${version}-node${process.versions.node}-${hash}`);
  const kuzzleRoot = join(dest, 'node_modules', 'kuzzle');
  if (existsSync(join(dest, '.complete'))) return kuzzleRoot;
  mkdirSync(base, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'package.json'), manifest);
  const started = Date.now();
  log(`installing kuzzle@${version} for node ${process.versions.node} in ${dest}`);
  try {
    execFileSync('npm', ['install', '--ignore-scripts=false', '--no-audit', '--no-fund', '--omit=dev'], {
      cwd: tmp,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    const installed = JSON.parse(readFileSync(join(tmp, 'node_modules', 'kuzzle', 'package.json'), 'utf8')).version;
    if (installed !== version) throw new Error(`npm installed kuzzle ${installed}, not ${version}`);
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.split('\n').slice(-60).join('\n');
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`kuzzle@${version} could not be installed for node ${process.versions.node}: ${error.message.split('\n')[0]}\n${output}`);
  }
  publish(tmp, dest, { kuzzle: version, node: process.versions.node, installedIn: seconds(started) });
  // Installs of this release from an older recipe are of no more use.
  removeOthers(dest, `${version}-node${process.versions.node}-`);
  log(`kuzzle@${version} installed in ${seconds(started)}`);
  return kuzzleRoot;
}

/**
 * Whether Kuzzle at `kuzzleRoot` (and every native module it loads) loads
 * in this Node: undefined if it does, else the end of the error. Kept apart
 * from the install, which is cached even when the release does not load, so
 * that a broken release is re-checked in seconds rather than reinstalled.
 */
export function loadError(kuzzleRoot) {
  try {
    execFileSync(process.execPath, ['-e', `require(${JSON.stringify(kuzzleRoot)})`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return undefined;
  } catch (error) {
    // Node prints the source line first: the error itself is the line naming it.
    const lines = `${error.stdout ?? ''}${error.stderr ?? ''}`.split('\n');
    return lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.slice(0, 12).join('\n');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const versions = process.argv.slice(2);
  if (versions.length === 0) {
    console.log('usage: node scripts/kuzzle-release.mjs VERSION [VERSION…]');
    process.exit(2);
  }
  for (const version of versions) {
    const kuzzleRoot = ensureKuzzleRelease(version);
    const error = loadError(kuzzleRoot);
    console.log(`${version} ${kuzzleRoot}${error ? ` (does not load: ${error})` : ''}`);
  }
}
