import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isListening } from '../harness/ports';
import { newRunDir } from '../harness/run-dir';
import { waitFor } from '../harness/wait';

const fixture = join(__dirname, '..', 'fixtures', 'failing-stack.fixture.js');

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function runFixture(mode: 'fail' | 'hang'): Promise<{ code: number | null; report: { processGroups: number[]; ports: number[] } }> {
  const reportFile = join(newRunDir(`cleanup-${mode}`), 'report.json');
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, KPC_CLEANUP_REPORT: reportFile, KPC_FIXTURE_MODE: mode },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (mode === 'hang') {
    await waitFor('the fixture stack to be up', () => existsSync(reportFile), { timeoutMs: 300_000, intervalMs: 250 });
    child.kill('SIGTERM');
  }
  const code = await exited;
  assert.ok(existsSync(reportFile), 'the fixture never got its stack up');
  return { code, report: JSON.parse(readFileSync(reportFile, 'utf8')) as { processGroups: number[]; ports: number[] } };
}

async function assertAllGone(report: { processGroups: number[]; ports: number[] }): Promise<void> {
  assert.ok(report.processGroups.length >= 3, 'the fixture started redis, kuzzle and haproxy at least');
  for (const pgid of report.processGroups) assert.equal(groupAlive(pgid), false, `process group ${pgid} still alive`);
  for (const port of report.ports) assert.equal(await isListening(port), false, `port ${port} still listening`);
}

describe('the harness cleans up after a failing test', () => {
  it('a failed assertion still stops every service it started', { timeout: 400_000 }, async () => {
    const { code, report } = await runFixture('fail');
    assert.notEqual(code, 0, 'the fixture test must fail');
    await assertAllGone(report);
  });

  it('a test process terminated by SIGTERM (runner timeout, Ctrl-C) leaves no process behind', { timeout: 400_000 }, async () => {
    const { report } = await runFixture('hang');
    await assertAllGone(report);
  });
});
