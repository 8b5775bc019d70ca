/** The message of an error, or the thrown value itself, for log lines and error replies. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
