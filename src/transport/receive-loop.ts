import { describeError } from '../util/describe-error';
import type { LogLevel } from '../util/log';
import { yieldEvery } from '../util/yield';

/** What {@link receiveLoop} needs from a zeromq socket (any `Readable` fits). */
export type ReceiveSocket = AsyncIterable<Buffer[]> & { readonly closed: boolean };

/** Hooks of {@link receiveLoop} into its transport. */
export interface ReceiveLoopContext {
  log(level: LogLevel, message: string): void;
  /** Whether the transport is closing; the loop then ends silently. */
  isClosed(): boolean;
}

/** How long a receive loop may run before it lets the rest of the event loop run. */
const YIELD_EVERY_MS = 10;

/**
 * Runs `onFrames` for every message until the socket closes; nothing it
 * throws ends the loop, since one bad message must not stop a node from
 * hearing its peers. When `onFrames` returns a promise, the next message
 * is read once it settles (the reader holds the socket).
 */
export async function receiveLoop(
  name: string,
  socket: ReceiveSocket,
  onFrames: (frames: Buffer[]) => Promise<void> | void,
  context: ReceiveLoopContext,
): Promise<void> {
  const yielder = yieldEvery(YIELD_EVERY_MS);
  try {
    for await (const frames of socket) {
      let held: Promise<void> | void = undefined;
      try {
        held = onFrames(frames);
      } catch (error) {
        context.log('error', `${name} receive loop: unexpected error: ${describeError(error)}`);
      }
      if (held) await held.catch((error: unknown) => context.log('error', `${name} receive loop: unexpected error: ${describeError(error)}`));
      // While messages keep coming, each next one is ready at once and the
      // loop would never let timers and I/O run (heartbeats, health checks):
      // a peer flooding this node must not starve it.
      const pacing = yielder.pace();
      // No await otherwise: one more microtask per message on a hot path.
      if (pacing) await pacing;
    }
  } catch (error) {
    // Closing the socket ends the iteration with an error: that is no news.
    if (!context.isClosed() && !socket.closed) context.log('error', `${name} receive loop ended: ${describeError(error)}`);
  }
}

/** Closes a socket during teardown, where a failure to close must not stop the rest. */
export function closeQuietly(socket: { close(): void }): void {
  try {
    socket.close();
  } catch {
    // Already closed or being torn down: nothing left to release.
  }
}
