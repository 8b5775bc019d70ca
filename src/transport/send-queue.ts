import { SendTimeoutError, TransportClosedError, isZmqError } from './errors';
import { delay } from '../util/delay';

/**
 * One frame as handed to zeromq. A string is copied as UTF-8 on the calling
 * thread and freed by libzmq; a Buffer over 128 bytes is sent without a
 * copy, but then released through the main thread (zeromq.js wakes the
 * event loop once libzmq is done with it).
 */
export type OutgoingFrame = Buffer | string;

/** What {@link SendQueue} needs from a zeromq socket (any `Writable` fits). */
export interface SendSocket {
  send(frames: OutgoingFrame[]): Promise<void>;
  sendTimeout: number;
}

/** Lets a caller give up on a queued message (Node 12 has no AbortSignal). */
export interface Cancellation {
  readonly cancelled: boolean;
  readonly reason?: Error;
}

/** Per-message options of {@link SendQueue.enqueue}. */
export interface EnqueueOptions {
  /** When cancelled before its turn comes, the message is skipped, never sent. */
  cancellation?: Cancellation;
  /**
   * Epoch time (ms) by which the message must be handed to the socket. The
   * socket's `sendTimeout` is set to the time left before sending, so a peer
   * that is down cannot hold the queue longer than the caller cares to wait.
   */
  deadline?: number;
}

interface Item {
  frames: OutgoingFrame[];
  options: EnqueueOptions;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Serialises sends on one zeromq socket. zeromq v6 allows a single `send` in
 * flight per socket (a concurrent one fails with EBUSY), while the transport
 * sends from many independent callers; this queue makes them take turns.
 */
export class SendQueue {
  private readonly items: Item[] = [];
  private draining = false;
  private closedWith: Error | undefined;
  private readonly defaultSendTimeout: number;
  /**
   * The socket's `sendTimeout` as this queue last set it: reading the
   * option is a getsockopt call, which a CPU profile showed on every send.
   */
  private socketSendTimeout: number;

  /**
   * @param socket Socket to send on; only this queue may send on it.
   * @param defaultSendTimeout `sendTimeout` restored for messages without a
   * deadline; defaults to the socket's value at construction.
   */
  constructor(
    private readonly socket: SendSocket,
    defaultSendTimeout?: number,
  ) {
    this.socketSendTimeout = socket.sendTimeout;
    this.defaultSendTimeout = defaultSendTimeout ?? this.socketSendTimeout;
  }

  /** Messages waiting for their turn (not counting the one being sent). */
  get size(): number {
    return this.items.length;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /**
   * Queues a message. Resolves once the socket accepted it (queued by
   * zeromq, not delivered); rejects with the socket's error, with a
   * {@link SendTimeoutError} when its deadline passed, with the cancellation's
   * reason, or with a {@link TransportClosedError} after close.
   */
  enqueue(frames: OutgoingFrame[], options: EnqueueOptions = {}): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<void>((resolve, reject) => {
      this.items.push({ frames, options, resolve, reject });
      void this.drain();
    });
  }

  /** Resolves once nothing is waiting or being sent, or after `timeoutMs`. */
  async idle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.draining || this.items.length > 0) && Date.now() < deadline) {
      await delay(5);
    }
  }

  /**
   * Rejects every waiting message and any later one. A send already handed to
   * zeromq ends when its socket is closed (or on its timeout). Idempotent.
   */
  close(error: Error = new TransportClosedError('send queue is closed')): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const item of this.items.splice(0)) item.reject(error);
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let item = this.items.shift(); item; item = this.items.shift()) {
        try {
          await this.sendOne(item);
          item.resolve();
        } catch (error) {
          item.reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async sendOne({ frames, options: { cancellation, deadline } }: Item): Promise<void> {
    if (this.closedWith) throw this.closedWith;
    if (cancellation?.cancelled) throw cancellation.reason ?? new Error('send cancelled');
    let timeout = this.defaultSendTimeout;
    if (deadline !== undefined) {
      const left = Math.ceil(deadline - Date.now());
      if (left <= 0) throw new SendTimeoutError('send deadline passed while the message was queued');
      timeout = this.defaultSendTimeout < 0 ? left : Math.min(left, this.defaultSendTimeout);
    }
    if (this.socketSendTimeout !== timeout) {
      this.socket.sendTimeout = timeout;
      this.socketSendTimeout = timeout;
    }
    try {
      await this.socket.send(frames);
    } catch (error) {
      // EAGAIN is how zeromq reports that sendTimeout elapsed.
      if (deadline !== undefined && isZmqError(error) && error.code === 'EAGAIN') {
        throw new SendTimeoutError('socket did not accept the message before its deadline', error);
      }
      throw error;
    }
  }
}
