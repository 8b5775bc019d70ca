import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../harness/run-dir';

interface TableRun {
  guard?: string;
  /** The next file opened got the table's descriptor number. */
  reused: boolean;
  /** That file was still open once the table's file was removed. */
  open: boolean;
  /** The table's file was removed (within the deadline). */
  removed: boolean;
  result: unknown;
}

/**
 * In a Node of its own (the guard patches a shared module, the threadpool is
 * made busy): minimises one truth table the way Koncorde does, with libuv's
 * threadpool (one thread) busy so that tmp's late close of the table's descriptor waits,
 * opens another file right after, and waits until the table's file is
 * removed (tmp closes the descriptor before it unlinks the file).
 */
function runTable(guarded: boolean): TableRun {
  const dir = mkdtempSync(join(tmpdir(), 'kpc-espresso-'));
  const kuzzleRoot = join(repoRoot, 'node_modules', 'kuzzle');
  const script = `
const crypto = require('crypto');
const fs = require('fs');
const { createRequire } = require('module');
const path = require('path');
const out = {};
if (${guarded}) out.guard = require(${JSON.stringify(join(repoRoot, 'dist', 'src', 'plugin', 'espresso-close-guard.js'))}).guardKoncordeMinimizer(${JSON.stringify(kuzzleRoot)});
const koncorde = createRequire(path.join(${JSON.stringify(kuzzleRoot)}, 'package.json')).resolve('koncorde');
const { Espresso } = createRequire(koncorde)('espresso-logic-minimizer');
crypto.pbkdf2('x', 'y', 300000, 64, 'sha512', () => undefined);
const table = new Espresso(2, 1);
table.push([0, 0], [0]);
table.push([1, 1], [1]);
out.result = table.minimize();
const other = fs.openSync(path.join(${JSON.stringify(dir)}, 'other'), 'w');
out.reused = other === table.tmpfile.fd;
const deadline = Date.now() + 20000;
(function check() {
  if (fs.existsSync(table.tmpfile.name) && Date.now() < deadline) return setTimeout(check, 5);
  out.removed = !fs.existsSync(table.tmpfile.name);
  try { fs.writeSync(other, 'still open'); out.open = true; } catch (error) { out.open = false; }
  console.log(JSON.stringify(out));
})();`;
  try {
    // One thread, kept busy: the late close waits behind it whatever the machine.
    const env = { ...process.env, UV_THREADPOOL_SIZE: '1' };
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env })) as TableRun;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("Koncorde's filter minimiser (espresso-logic-minimizer via tmp 0.1)", () => {
  it('closes the descriptor number of its table a second time, late: the file opened next is closed under its owner', () => {
    const run = runTable(false);
    assert.equal(run.reused, true, 'the next file got the number');
    assert.equal(run.open, false, "closed by the table's late close");
    assert.equal(run.removed, true);
  });

  it('guarded as the plugin does in Kuzzle: the file opened next stays open, the table is still minimised and removed', () => {
    const run = runTable(true);
    assert.match(run.guard ?? '', /guarded against its late close/);
    assert.equal(run.reused, true);
    assert.equal(run.open, true);
    assert.equal(run.removed, true);
    assert.deepEqual(run.result, ['11 1']);
  });
});
