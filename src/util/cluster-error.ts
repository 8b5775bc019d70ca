/**
 * Every error the cluster raises carries a stable `code` (`KPC_…`), so that
 * callers, logs and peers (error replies travel with their code) can tell
 * failures apart without parsing messages.
 */
export class ClusterError extends Error {
  override readonly name: string = 'ClusterError';
  readonly cause?: unknown;

  constructor(
    readonly code: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message);
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** Whether `error` carries a `KPC_…` code (ours, or one received from a peer). */
export function hasCode(error: unknown, code: string): error is ClusterError {
  return error instanceof ClusterError && error.code === code;
}

/** The code of an error, `KPC_INTERNAL` for anything that is not a {@link ClusterError}. */
export function codeOf(error: unknown): string {
  return error instanceof ClusterError ? error.code : 'KPC_INTERNAL';
}
