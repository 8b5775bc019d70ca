import { ClusterError } from '../util/cluster-error';
import type { ErrorBody } from './envelope';

/** Raised by any operation attempted on, or interrupted by, a closed transport. */
export class TransportClosedError extends ClusterError {
  override readonly name = 'TransportClosedError';
  constructor(message = 'transport is closed') {
    super('KPC_TRANSPORT_CLOSED', message);
  }
}

/** A request got no reply within its timeout. */
export class RequestTimeoutError extends ClusterError {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly peerId: string,
    readonly type: string,
    readonly timeoutMs: number,
    cause?: unknown,
  ) {
    super('KPC_REQUEST_TIMEOUT', `request "${type}" to node ${peerId} got no reply within ${timeoutMs} ms`, { cause });
  }
}

/** A request targets a peer the transport is not (or no longer) connected to. */
export class PeerNotConnectedError extends ClusterError {
  override readonly name = 'PeerNotConnectedError';
  constructor(
    readonly peerId: string,
    reason = 'is not connected',
  ) {
    super('KPC_PEER_NOT_CONNECTED', `node ${peerId} ${reason}`);
  }
}

/**
 * The peer answered, but its request handler failed (reply with `error:
 * true`): `code` is the peer's error code, so that the failure can be
 * handled as if it had happened here.
 */
export class RemoteHandlerError extends ClusterError {
  override readonly name = 'RemoteHandlerError';
  constructor(
    readonly peerId: string,
    readonly type: string,
    body: ErrorBody,
  ) {
    super(body.code, `node ${peerId} failed to handle request "${type}": ${body.message}`);
  }
}

/** A send could not be handed to its socket before its deadline. */
export class SendTimeoutError extends ClusterError {
  override readonly name = 'SendTimeoutError';
  constructor(message: string, cause?: unknown) {
    super('KPC_SEND_TIMEOUT', message, { cause });
  }
}

/** A message is bigger than `maxMessageBytes`: peers would drop it. */
export class FrameTooLargeError extends ClusterError {
  override readonly name = 'FrameTooLargeError';
  constructor(
    type: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super('KPC_FRAME_TOO_LARGE', `message "${type}" is ${bytes} bytes, over the ${maxBytes} bytes limit (maxMessageBytes)`);
  }
}

/** Whether `error` is an error raised by zeromq (they carry an errno `code` such as "EAGAIN"). */
export function isZmqError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** Reads the `{ code, message }` body of an error reply; anything else becomes a generic one. */
export function parseErrorBody(body: unknown): ErrorBody {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const code = typeof value.code === 'string' && /^KPC_[A-Z_]{1,60}$/.test(value.code) ? value.code : 'KPC_REMOTE_ERROR';
  const message = typeof value.message === 'string' ? value.message.slice(0, 2000) : 'unknown error';
  return { code, message };
}
