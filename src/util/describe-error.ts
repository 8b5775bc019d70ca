/**
 * A one-line description of anything thrown, for log lines and error
 * replies: never empty, never "undefined". Codes of cluster errors come
 * first so that log searches can key on them.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const text = error.message || error.name || 'error without a message';
    return typeof code === 'string' && code !== '' && !text.startsWith(code) ? `${code}: ${text}` : text;
  }
  if (typeof error === 'object' && error !== null) {
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message;
    try {
      return JSON.stringify(error);
    } catch {
      return Object.prototype.toString.call(error);
    }
  }
  return error === undefined ? 'undefined was thrown' : String(error);
}
