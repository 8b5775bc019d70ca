import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isListening } from '../harness/ports';
import { newRunDir } from '../harness/run-dir';
import { waitFor } from '../harness/wait';
import { describeError } from '../../src/util/describe-error';

const fixture = join(__dirname, '..', 'fixtures', 'failing-stack.fixture.js');

/** Fields of a /proc stat file after the command name: state, ppid, pgrp, … */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * Whether a process still has a running thread. A killed process's main
 * thread turns zombie before its other threads (libuv's pool, libzmq's I/O
 * threads) have exited, and the process's sockets close only with the last
 * of them: a zombie leader counts as gone once it is the only thread left
 * (num_threads, lowered only when a thread is gone for good; listing
 * /proc/<pid>/task could miss a thread that is being removed).
 */
function isLive(pid: string): boolean {
  const fields = statFields(`/proc/${pid}/stat`);
  return !['Z', 'X'].includes(fields[0] ?? 'X') || Number(fields[17]) > 1;
}

/** Processes of a process group with a running thread, read from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(`/proc/${entry}/stat`)[2]) === pgid && isLive(entry)) members.push(Number(entry));
    } catch {
      // the process ended while we read it
    }
  }
  return members;
}

/** Where a symbolic link points; '' when it is gone. */
function linkOf(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** Who listens on a TCP port of this machine ("pid (command, process group)"), for a failure's message. */
function listenersOf(port: number): string[] {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = row.trim().split(/\s+/);
      // State 0A is LISTEN; the local address ends with the port in hex.
      if (state === '0A' && local !== undefined && inode !== undefined && parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(inode);
    }
  }
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const sockets = readdirSync(`/proc/${pid}/fd`).map((fd) => linkOf(`/proc/${pid}/fd/${fd}`));
      if (sockets.some((link) => inodes.has(link.replace(/^socket:\[(\d+)\]$/, '$1')))) {
        found.push(`${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}, process group ${statFields(`/proc/${pid}/stat`)[2] ?? '?'})`);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
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
    await waitFor(`process group ${pgid} to be gone`, () => groupMembers(pgid).length === 0, { timeoutMs: 10_000 }).catch((error: unknown) => {
      throw new Error(`${describeError(error)} (left: ${groupMembers(pgid).join(', ')})`);
    });
  }
  // Every thread gone, its sockets are closed: a port still open then is a
  // leak (or, if its listener is named and unrelated, another program's).
  for (const port of report.ports) {
    if (await isListening(port)) assert.fail(`port ${port} still listening: ${listenersOf(port).join(', ') || 'listener not found in /proc'}`);
  }
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
