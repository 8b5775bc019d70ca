import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { kuzzleNodeBinary, kuzzleRoot } from '../test/harness/kuzzle-node';
import { repoRoot } from '../test/harness/run-dir';

/**
 * NODE_ENV of the measured Kuzzle nodes: `production`, as deployed. (In
 * `development` Kuzzle's Bluebird records a long stack trace for every
 * promise: one node then serves less than half as many subscriptions.)
 */
export const KUZZLE_NODE_ENV = 'production';

/** Where and on what a run was measured. */
export interface Environment {
  node: string;
  kuzzleNode: string;
  /** NODE_ENV of the Kuzzle nodes; absent from runs before it was recorded (they ran `development`). */
  kuzzleNodeEnv?: string;
  kuzzle: string;
  kuzzleSdk: string;
  cpuModel: string;
  cores: number;
  memoryGb: number;
  /** 1-minute load average at the start and the end: well above 0 means something else was running. */
  loadStart: number;
  loadEnd?: number;
  commit: string;
  /** Uncommitted changes in the repository (outside the bench's results) when the run started. */
  dirty: boolean;
  /** Commit of the `--plugin` folder, if it is a git work tree. */
  otherPluginCommit?: string;
}

const versionOf = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;

function git(dir: string, args: string[]): string | undefined {
  try {
    return execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function environment(otherPlugin: string | undefined): Environment {
  const cpu = cpus();
  return {
    node: process.version,
    kuzzleNode: kuzzleNodeBinary === process.execPath ? process.version : execFileSync(kuzzleNodeBinary, ['--version'], { encoding: 'utf8' }).trim(),
    kuzzleNodeEnv: KUZZLE_NODE_ENV,
    kuzzle: versionOf(kuzzleRoot),
    kuzzleSdk: versionOf(join(repoRoot, 'node_modules', 'kuzzle-sdk')),
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    loadStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    commit: git(repoRoot, ['rev-parse', 'HEAD']) ?? 'unknown',
    // The bench's own outputs do not make the code measured any different.
    dirty: (git(repoRoot, ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results', ':!bench/RESULTS.md']) ?? '') !== '',
    otherPluginCommit: otherPlugin ? git(otherPlugin, ['rev-parse', 'HEAD']) : undefined,
  };
}
