import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isListening } from '../harness/ports';
import { newRunDir } from '../harness/run-dir';
import { waitFor } from '../harness/wait';

const fixture = join(__dirname, '..', 'fixtures', 'failing-stack.fixture.js');

/** Fields of a /proc stat file after the command name: state, ppid, pgrp, … */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * Whether any thread of a process still runs. A killed process's main
 * thread turns zombie before its other threads (libuv's pool, libzmq's I/O
 * threads) have exited, and the process's sockets close only with the last
 * of them: a zombie leader is not yet a process gone.
 */
function hasLiveThread(pid: string): boolean {
  return readdirSync(`/proc/${pid}/task`).some((tid) => {
    try {
      return !['Z', 'X'].includes(statFields(`/proc/${pid}/task/${tid}/stat`)[0] ?? 'X');
    } catch {
      return false; // the thread ended while we read it
    }
  });
}

/** Processes of a process group with a live thread, read from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(`/proc/${entry}/stat`)[2]) === pgid && hasLiveThread(entry)) members.push(Number(entry));
    } catch {
      // the process ended while we read it
    }
  }
  return members;
}

async function runFixture(mode: 'fail' | 'hang'): Promise<{ code: number | null; report: { processGroups: number[]; ports: number[] } }> {
  const runDir = newRunDir(`cleanup-${mode}`);
  const reportFile = join(runDir, 'report.json');
  // The fixture's own (deliberately failing) report goes to a file, not to this run's output.
  const output = openSync(join(runDir, 'fixture-output.log'), 'a');
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, KPC_CLEANUP_REPORT: reportFile, KPC_FIXTURE_MODE: mode },
    stdio: ['ignore', output, output],
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
  // SIGKILL is delivered asynchronously: give the kernel a moment, no more.
  for (const pgid of report.processGroups) {
    await waitFor(`process group ${pgid} to be gone (left: ${groupMembers(pgid).join(', ')})`, () => groupMembers(pgid).length === 0, { timeoutMs: 10_000 });
  }
  // Every thread gone, its sockets are closed: a port still open then is a leak.
  for (const port of report.ports) assert.equal(await isListening(port), false, `port ${port} still listening`);
}

describe('the harness cleans up after a failing test', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`dev.sh's stack CLI stopped by ${signal} (Ctrl-C, kill, a closed terminal) leaves no process behind`, { timeout: 400_000 }, async () => {
      const runDir = newRunDir('cleanup-cli');
      const readyFile = join(runDir, 'ready.json');
      const output = openSync(join(runDir, 'cli-output.log'), 'a');
      const cli = spawn(process.execPath, [join(__dirname, '..', 'harness', 'cli.js'), 'start', '--nodes', '1'], {
        env: { ...process.env, KPC_STACK_READY_FILE: readyFile },
        stdio: ['pipe', output, output],
      });
      const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
      await waitFor('the CLI stack to be up', () => existsSync(readyFile), { timeoutMs: 300_000, intervalMs: 250 });
      cli.kill(signal);
      assert.equal(await exited, 0);
      await assertAllGone(JSON.parse(readFileSync(readyFile, 'utf8')) as { processGroups: number[]; ports: number[] });
    });
  }

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
