/** Log levels the cluster uses; Kuzzle's plugin logger has the same. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** How every module logs: injected, so modules do not depend on Kuzzle. */
export type Log = (level: LogLevel, message: string) => void;
