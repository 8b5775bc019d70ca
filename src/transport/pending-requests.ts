import type { Envelope } from './envelope';
import { RemoteHandlerError, RequestTimeoutError } from './errors';
import type { SendCancel } from './send-queue';

interface PendingRequest {
  readonly peerId: string;
  readonly type: string;
  readonly resolve: (reply: Envelope) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly cancel: { aborted: boolean; reason?: Error };
}

/** What {@link PendingRequests.track} hands back for one request. */
export interface TrackedRequest {
  /** Settles with the reply, or rejects on timeout, disconnect, close or a remote failure. */
  readonly reply: Promise<Envelope>;
  /**
   * Aborted as soon as the request fails, so that a request still waiting in
   * a send queue is skipped: nobody awaits its reply any more.
   */
  readonly signal: SendCancel;
}

/**
 * The requests awaiting a reply, keyed by request id (`rid`, echoed back as
 * `re`). Each one settles exactly once: by its reply, its timeout
 * ({@link RequestTimeoutError}), or an explicit failure (peer dropped,
 * transport closed, send failed); whatever comes later is ignored.
 */
export class PendingRequests {
  private readonly byRid = new Map<string, PendingRequest>();
  private timeoutCount = 0;

  /** Requests that failed with a {@link RequestTimeoutError}, for `stats().timeouts`. */
  get timeouts(): number {
    return this.timeoutCount;
  }

  /**
   * Starts waiting for the reply to request `rid` sent to `peerId`; it fails
   * with a {@link RequestTimeoutError} after `timeoutMs`.
   */
  track(rid: string, peerId: string, type: string, timeoutMs: number): TrackedRequest {
    const cancel: { aborted: boolean; reason?: Error } = { aborted: false };
    const reply = new Promise<Envelope>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(rid, new RequestTimeoutError(peerId, type, timeoutMs)), timeoutMs);
      this.byRid.set(rid, { peerId, type, resolve, reject, timer, cancel });
    });
    return { reply, signal: cancel };
  }

  /**
   * Settles request `rid` (the reply's `re`) with a reply received from
   * `peerId`: an error reply rejects with {@link RemoteHandlerError}.
   *
   * @returns false when no such request is pending for that peer (it already
   * timed out, or the reply is misrouted), so the caller can drop the reply.
   */
  settle(peerId: string, rid: string, reply: Envelope): boolean {
    const request = this.byRid.get(rid);
    // Only the peer the request went to may answer it.
    if (!request || request.peerId !== peerId) return false;
    this.byRid.delete(rid);
    clearTimeout(request.timer);
    if (reply.error === true) request.reject(new RemoteHandlerError(peerId, request.type, reply));
    else request.resolve(reply);
    return true;
  }

  /** Rejects request `rid` with `error`; does nothing if it is no longer pending. */
  fail(rid: string, error: Error): void {
    const request = this.byRid.get(rid);
    if (!request) return;
    this.byRid.delete(rid);
    clearTimeout(request.timer);
    // A request still waiting in the send queue is skipped: nobody awaits its reply.
    request.cancel.reason = error;
    request.cancel.aborted = true;
    if (error instanceof RequestTimeoutError) this.timeoutCount += 1;
    request.reject(error);
  }

  /** Rejects every request sent to `peerId`, e.g. when that peer is dropped. */
  failPeer(peerId: string, error: Error): void {
    // Iterate over a copy: fail() deletes from the map.
    for (const [rid, request] of [...this.byRid]) {
      if (request.peerId === peerId) this.fail(rid, error);
    }
  }

  /** Rejects every pending request, e.g. when the transport closes. */
  failAll(error: Error): void {
    for (const rid of [...this.byRid.keys()]) this.fail(rid, error);
  }
}
