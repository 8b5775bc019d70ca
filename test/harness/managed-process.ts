import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Options of a process started by the test harness. */
export interface ManagedProcessOptions {
  /** Name shown in errors and logs, e.g. "redis" or "kuzzle-2". */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr both go to this file (appended). */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const running = new Set<ManagedProcess>();

/**
 * A child process in its own process group (so that a wrapper such as
 * `runuser` and everything it starts are signalled together), logging to a
 * file, and tracked so that {@link killAllManagedProcesses} can reap whatever a
 * failing test left behind.
 */
export class ManagedProcess {
  private readonly child: ChildProcess;
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;

  constructor(readonly options: ManagedProcessOptions) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    // The child writes to its log file itself: no pipe through this process,
    // which could die first and leave the child writing into a closed pipe.
    const log = openSync(options.logFile, 'a');
    this.child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        running.delete(this);
        resolve();
      });
      this.child.once('error', (error) => {
        appendFileSync(options.logFile, `\n[harness] failed to start ${options.command}: ${error.message}\n`);
        this.exitCode = -1;
        running.delete(this);
        resolve();
      });
    });
    running.add(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Sends a signal to the whole process group. */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Resolves when the process has exited. */
  waitExit(): Promise<void> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.signal('SIGCONT'); // a frozen process cannot handle SIGTERM
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Last lines of the process's log, for failure reports. */
  logTail(lines = 40): string {
    return tailFile(this.options.logFile, lines);
  }

  describeExit(): string {
    return this.alive ? `${this.options.name} is running` : `${this.options.name} exited with code ${String(this.exitCode)}`;
  }
}

export function tailFile(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const all = readFileSync(file, 'utf8').split('\n');
  return all.slice(-lines).join('\n');
}

/** Processes started by this test process and still alive. */
export function managedProcesses(): ManagedProcess[] {
  return [...running];
}

/** Last-resort cleanup: SIGKILL every tracked process group. */
export function killAllManagedProcesses(): void {
  for (const proc of running) proc.signal('SIGKILL');
}

// Even when a test file crashes, leave no server behind.
process.once('exit', killAllManagedProcesses);

/**
 * For test processes: a SIGINT/SIGTERM/SIGHUP (Ctrl-C, the test runner's timeout, a closed terminal)
 * kills every tracked process before exiting. Interactive tools that stop
 * their services gracefully install their own handlers instead.
 */
export function killManagedProcessesOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllManagedProcesses();
      process.exit(130);
    });
  }
}
