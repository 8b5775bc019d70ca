/** Log levels the cluster uses; Kuzzle's plugin logger has the same. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * How every module logs: injected, so modules do not depend on Kuzzle. The
 * sink adds the plugin prefix; messages never carry one.
 */
export type Log = (level: LogLevel, message: string) => void;

/** A sink that drops everything, for tests and tools. */
export const silentLog: Log = () => undefined;
