import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { curveKeyPair } from 'zeromq';
import { freePort } from '../../test/harness/ports';
import { now } from '../load/clock';
import { percentiles } from '../stats';
import type { HopCommand, HopCurve, HopReplies, HopReply } from './protocol';

/** One process of the hop, answering its commands in order. */
class HopPeer {
  private readonly child: ChildProcess;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(role: 'pub' | 'sub') {
    this.child = fork(join(__dirname, 'hop-peer.js'), [role], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  send<C extends HopCommand>(command: C): Promise<HopReplies[C['type']]> {
    const reply = this.queue.then(
      () =>
        new Promise<HopReplies[C['type']]>((resolve, reject) => {
          this.child.once('message', (answer: HopReply) => (answer.ok ? resolve(answer.result as HopReplies[C['type']]) : reject(new Error(answer.error))));
          this.child.send(command);
        }),
    );
    this.queue = reply.catch(() => undefined);
    return reply;
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
  }
}

/** Latency percentiles of one rate, in ms. */
export interface HopResult {
  rate: number;
  curve: boolean;
  p50?: number;
  p90?: number;
  p99?: number;
  samples: number;
  sent: number;
  /** Beside a case: how long after each of its publishes (on their schedule) the hop's message leaves, in ms. */
  offsetMs?: number;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Two processes of the hop, a PUB and a SUB connected over loopback, ready to measure rates. */
export class HopPair {
  private constructor(
    readonly curve: boolean,
    private readonly pub: HopPeer,
    private readonly sub: HopPeer,
  ) {}

  /** Forks both ends and connects them, with CURVE when `curve` (the cluster's sockets use it). */
  static async open(curve: boolean): Promise<HopPair> {
    const keys = curveKeyPair();
    const curveKeys: HopCurve | undefined = curve ? { serverPublicKey: keys.publicKey, serverSecretKey: keys.secretKey } : undefined;
    const pair = new HopPair(curve, new HopPeer('pub'), new HopPeer('sub'));
    try {
      const port = await freePort();
      await pair.pub.send({ type: 'open', port, curve: curveKeys });
      await pair.sub.send({ type: 'open', port, curve: curveKeys });
      return pair;
    } catch (error) {
      pair.stop();
      throw error;
    }
  }

  /**
   * `rate` messages per second (open loop) from `startAt` for `warmupMs`
   * then `durationMs`; latencies of the messages sent in the second part.
   * `busyUs`: the sender's main thread spins that long after each send.
   */
  async measure(rate: number, startAt: number, warmupMs: number, durationMs: number, busyUs = 0): Promise<HopResult> {
    await this.sub.send({ type: 'arm', from: startAt + warmupMs, to: startAt + warmupMs + durationMs });
    const { sent } = await this.pub.send({ type: 'send', rate, startAt, durationMs: warmupMs + durationMs, busyUs });
    await delay(500);
    const { latencies } = await this.sub.send({ type: 'collect' });
    return { rate, curve: this.curve, ...percentiles(latencies), sent };
  }

  stop(): void {
    this.pub.stop();
    this.sub.stop();
  }
}

/**
 * How long after the load's schedule the hop beside it sends: half a
 * period by default, so that the hop's messages do not wake the machine at
 * the same instants as the load of `run` at the same rate;
 * `KPC_BENCH_HOP_OFFSET_MS` sets it, to probe how much a crossing's time
 * depends on when it happens within the load's bursts (bench/trace).
 */
function hopOffsetMs(rate: number): number {
  const text = process.env.KPC_BENCH_HOP_OFFSET_MS;
  if (text === undefined || text === '') return 500 / rate;
  const set = Number(text);
  if (text.trim() === '' || !Number.isFinite(set) || set < 0) throw new Error(`KPC_BENCH_HOP_OFFSET_MS=${JSON.stringify(text)}: a number of milliseconds >= 0 expected`);
  return set;
}

/**
 * Runs `run` with the CURVE hop measured beside it, at `rate` over the same
 * window: `run` gets the window's start (the warm-up, then `durationMs`
 * measured). The hop's messages leave {@link hopOffsetMs} after each of
 * the load's (to the millisecond its timers allow).
 */
export async function beside<T>(rate: number, warmupMs: number, durationMs: number, run: (startAt: number) => Promise<T>): Promise<{ result: T; hop: HopResult }> {
  // Forked before the window is set: the two processes take longer to start than its 200 ms lead.
  const pair = await HopPair.open(true);
  try {
    const startAt = now() + 200;
    const offsetMs = hopOffsetMs(rate);
    const hop = pair.measure(rate, startAt + offsetMs, warmupMs, durationMs).then((result) => ({ ...result, offsetMs }));
    // Settled here too, so that a failed `run` leaves no unhandled rejection behind it.
    hop.catch(() => undefined);
    const result = await run(startAt);
    return { result, hop: await hop };
  } finally {
    pair.stop();
  }
}

/**
 * The reference row of the latency case: a ~600-byte JSON message, one way
 * from a ZeroMQ PUB in one Node process to a SUB in another, on loopback, at
 * each of the latency case's rates (open loop, as the publisher of that
 * case), with and without CURVE, on an otherwise idle machine. Latency is
 * the receiver's clock minus the time in the message, counted after the
 * warm-up as in the latency case.
 */
export async function measureBareHop(rates: number[], warmupMs: number, durationMs: number): Promise<HopResult[]> {
  const results: HopResult[] = [];
  for (const curve of [false, true]) {
    const pair = await HopPair.open(curve);
    try {
      for (const rate of rates) results.push(await pair.measure(rate, now() + 200, warmupMs, durationMs));
    } finally {
      pair.stop();
    }
  }
  return results;
}
