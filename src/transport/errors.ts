import type { Envelope } from './envelope';

/** Raised by any operation attempted on, or interrupted by, a closed transport. */
export class TransportClosedError extends Error {
  override readonly name = 'TransportClosedError';
  constructor(message = 'transport is closed') {
    super(message);
  }
}

/** A request got no reply within its timeout. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  /** Underlying failure, e.g. the socket could not hand the request over in time. */
  readonly cause?: unknown;
  constructor(
    readonly peerId: string,
    readonly type: string,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super(`request "${type}" to node ${peerId} got no reply within ${timeoutMs} ms`);
    if (cause !== undefined) this.cause = cause;
  }
}

/** A request targets a peer the transport is not (or no longer) connected to. */
export class PeerNotConnectedError extends Error {
  override readonly name = 'PeerNotConnectedError';
  constructor(
    readonly peerId: string,
    reason = 'is not connected',
  ) {
    super(`node ${peerId} ${reason}`);
  }
}

/** The peer answered, but its request handler failed (reply with `error: true`). */
export class RemoteHandlerError extends Error {
  override readonly name = 'RemoteHandlerError';
  constructor(
    readonly peerId: string,
    readonly type: string,
    /** The error reply as received; its `body` is `{ message }`. */
    readonly reply: Envelope,
  ) {
    super(`node ${peerId} failed to handle request "${type}": ${remoteMessage(reply.body)}`);
  }
}

/**
 * A send could not be handed to its socket before its deadline; raised by
 * {@link SendQueue} so callers can tell it from other socket failures.
 */
export class SendTimeoutError extends Error {
  override readonly name = 'SendTimeoutError';
  readonly cause?: unknown;
  constructor(message: string, cause?: unknown) {
    super(message);
    if (cause !== undefined) this.cause = cause;
  }
}

/** Whether `error` is an error raised by zeromq (they carry an errno `code` such as "EAGAIN"). */
export function isZmqError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

function remoteMessage(body: unknown): string {
  if (typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return 'unknown error';
}
