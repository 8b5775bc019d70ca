/**
 * Messages between the bench and the two processes of the bare hop (one
 * PUB, one SUB), over Node's IPC channel. Each command gets one reply.
 */
export interface HopCurve {
  /** The PUB's key pair (it is the CURVE server), z85. */
  serverPublicKey: string;
  serverSecretKey: string;
}

export type HopCommand =
  /** PUB: bind on `port`. SUB: connect to it and subscribe to everything. */
  | { type: 'open'; port: number; curve?: HopCurve }
  /** SUB: messages arriving between `from` and `to` (epoch ms) are kept. */
  | { type: 'arm'; from: number; to: number }
  /**
   * PUB: `rate` messages per second from `startAt` for `durationMs`, each
   * carrying its send time; with `busyUs`, the main thread spins that long
   * after each send (bench/trace/busy-sender-hop.mjs).
   */
  | { type: 'send'; rate: number; startAt: number; durationMs: number; busyUs?: number }
  /** SUB: the latencies kept since the last arm. */
  | { type: 'collect' };

export interface HopReplies {
  open: Record<string, never>;
  arm: Record<string, never>;
  send: { sent: number };
  collect: { latencies: number[] };
}

export type HopReply = { ok: true; result: unknown } | { ok: false; error: string };
