import { realScheduler, type Cancel, type Scheduler } from '../../src/util/scheduler';

/**
 * Real timers that a test can pause, to freeze one node of several running
 * in one process, as SIGSTOP freezes a process: while paused, periodic
 * tasks do not run and one-off tasks wait; time goes on.
 */
export class PausableScheduler implements Scheduler {
  private paused = false;
  private readonly held: Array<() => void> = [];

  every(ms: number, task: () => void): Cancel {
    return realScheduler.every(ms, () => {
      if (!this.paused) task();
    });
  }

  after(ms: number, task: () => void): Cancel {
    let cancelled = false;
    const cancel = realScheduler.after(ms, () => {
      if (this.paused) this.held.push(() => !cancelled && task());
      else task();
    });
    return () => {
      cancelled = true;
      cancel();
    };
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const task of this.held.splice(0)) task();
  }
}
