import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { repoRoot } from '../harness/run-dir';
import { waitFor } from '../harness/wait';

const scriptUrl = (name: string): string => JSON.stringify(pathToFileURL(join(repoRoot, 'scripts', name)).href);

/** Runs scripts/node-runtime.mjs's publish(tmp, dest, meta) in a Node of its own (an ES module). */
function publish(tmp: string, dest: string, meta: object): void {
  const script = `import { publish } from ${scriptUrl('node-runtime.mjs')}; publish(...${JSON.stringify([tmp, dest, meta])});`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A test run's hold of an install's lock (scripts/matrix-tier.mjs
 * lockInstall), in a Node of its own: while it holds the lock it owns
 * `holding` (created exclusively: it fails if another holder has it).
 * Resolves with what it printed once it released the lock.
 */
/**
 * A test run taking the install lock in a process of its own, and holding
 * it until `release` (its stdin closed); `output` is what it printed so far.
 * Resolves with all it printed once it exited.
 */
function holdLock(kuzzleRoot: string, holding: string): { exited: Promise<string>; output: () => string; release: () => void } {
  const script = `import { lockInstall } from ${scriptUrl('matrix-tier.mjs')};
import { rmSync, writeFileSync } from 'node:fs';
const release = await lockInstall(${JSON.stringify(kuzzleRoot)});
writeFileSync(${JSON.stringify(holding)}, String(process.pid), { flag: 'wx' });
console.log('locked');
await new Promise((resolve) => process.stdin.on('end', resolve).resume());
rmSync(${JSON.stringify(holding)});
release();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`exited with ${code}: ${output}`))));
  });
  return { exited, output: () => output, release: () => child.stdin.end() };
}

/** A run that takes the lock, and lets it go at once. */
function takeLockOnce(kuzzleRoot: string, holding: string): Promise<string> {
  const run = holdLock(kuzzleRoot, holding);
  run.release();
  return run.exited;
}

function staged(dir: string, name: string, content: string): string {
  const tmp = join(dir, name);
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'file'), content);
  return tmp;
}

describe('the shared cache of installs', () => {
  it('never replaces a complete entry, which another test run may be using; replaces one left incomplete', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpc-publish-'));
    try {
      const dest = join(dir, 'entry');
      publish(staged(dir, 'a.tmp-1', 'a'), dest, { by: 'a' });
      assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'a');
      assert.deepEqual(JSON.parse(readFileSync(join(dest, '.complete'), 'utf8')), { by: 'a' });
      // A second run published the same entry meanwhile: the first one's copy stays, its own goes.
      publish(staged(dir, 'b.tmp-2', 'b'), dest, { by: 'b' });
      assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'a');
      assert.equal(existsSync(join(dir, 'b.tmp-2')), false);
      // A run killed while removing an entry left it incomplete: replaced.
      rmSync(join(dest, '.complete'));
      publish(staged(dir, 'c.tmp-3', 'c'), dest, { by: 'c' });
      assert.equal(readFileSync(join(dest, 'file'), 'utf8'), 'c');
      assert.deepEqual(JSON.parse(readFileSync(join(dest, '.complete'), 'utf8')), { by: 'c' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two test runs using one Kuzzle install take turns (each links its own plugin build there); a lock whose holder is gone is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kpc-lock-'));
    try {
      const kuzzleRoot = join(dir, 'node_modules', 'kuzzle');
      mkdirSync(kuzzleRoot, { recursive: true });
      // Each holder owns this file while it holds the lock: a second holder at once would fail to create it.
      const holding = join(dir, 'holding');
      const first = holdLock(kuzzleRoot, holding);
      await waitFor('the first run to hold the lock', () => first.output().includes('locked'), { timeoutMs: 30_000 });
      const second = holdLock(kuzzleRoot, holding);
      second.release();
      await waitFor('the second run to wait for it', () => second.output().includes('waiting'), { timeoutMs: 30_000 });
      first.release();
      const [, waited] = await Promise.all([first.exited, second.exited]);
      assert.match(waited, /waiting for another test run \(pid \d+\)/);
      assert.match(waited, /locked/, 'then took it');
      // A run killed while holding it: its pid is gone.
      mkdirSync(join(dir, '.tests-lock'));
      writeFileSync(join(dir, '.tests-lock', 'pid'), '999999999');
      assert.doesNotMatch(await takeLockOnce(kuzzleRoot, holding), /waiting/);
      assert.equal(existsSync(join(dir, '.tests-lock')), false, 'released');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
