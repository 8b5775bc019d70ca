/** Stops a scheduled task; calling it again does nothing. */
export type Cancel = () => void;

/**
 * Where a node's periodic work is scheduled. Real timers in production; a
 * unit test hands in one it can pause, to freeze one node of several
 * running in one process (as SIGSTOP freezes a process) while time goes on.
 */
export interface Scheduler {
  /** Runs `task` every `ms` until cancelled. */
  every(ms: number, task: () => void): Cancel;
  /** Runs `task` once after `ms`; does not keep the process alive. */
  after(ms: number, task: () => void): Cancel;
}

export const realScheduler: Scheduler = {
  every(ms, task) {
    const timer = setInterval(task, ms);
    return () => clearInterval(timer);
  },
  after(ms, task) {
    const timer = setTimeout(task, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
