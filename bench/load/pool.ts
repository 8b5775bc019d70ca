import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Command, Replies, Reply } from './protocol';

/** CPU a worker used during one case, in percent of one core. */
export interface WorkerCpu {
  worker: number;
  percent: number;
}

/** One forked load worker and its pending requests. */
class LoadWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly child: ChildProcess;

  constructor(readonly index: number) {
    // execArgv left empty: a --inspect or --test flag of the parent must not follow it.
    this.child = fork(join(__dirname, 'worker.js'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`worker ${this.index}: ${reply.error}`));
    });
    this.child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`worker ${this.index} exited (${String(code)})`));
      this.pending.clear();
    });
  }

  send<C extends Command>(command: C): Promise<Replies[C['type']]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill('SIGTERM');
  }
}

/**
 * The load workers. Cases hand each worker its part of the load; `cpu()`
 * brackets a case so that the results show whether a worker, rather than
 * Kuzzle, was the limit.
 */
export class WorkerPool {
  readonly workers: LoadWorker[];

  constructor(count: number) {
    this.workers = Array.from({ length: count }, (_, i) => new LoadWorker(i));
  }

  worker(i: number): LoadWorker {
    const worker = this.workers[i % this.workers.length];
    if (!worker) throw new Error('no load worker');
    return worker;
  }

  /** The same command to every worker. */
  all<C extends Command>(command: C | ((worker: number) => C)): Promise<Array<Replies[C['type']]>> {
    return Promise.all(this.workers.map((w, i) => w.send(typeof command === 'function' ? command(i) : command)));
  }

  /** Starts a CPU measurement; the function it returns gives each worker's share of one core since. */
  async cpu(): Promise<() => Promise<WorkerCpu[]>> {
    const started = Date.now();
    const before = await this.all({ type: 'cpu' });
    return async () => {
      const after = await this.all({ type: 'cpu' });
      const wallUs = Math.max(1, (Date.now() - started) * 1000);
      return after.map((usage, worker) => {
        const was = before[worker] ?? { user: 0, system: 0 };
        return { worker, percent: round1((100 * (usage.user + usage.system - was.user - was.system)) / wallUs) };
      });
    };
  }

  stop(): void {
    for (const worker of this.workers) worker.stop();
  }
}

export const round1 = (value: number): number => Math.round(value * 10) / 10;
