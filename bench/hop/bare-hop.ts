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
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The reference row of the latency case: a ~600-byte JSON message, one way
 * from a ZeroMQ PUB in one Node process to a SUB in another, on loopback, at
 * each of the latency case's rates (open loop, as the publisher of that
 * case), with and without CURVE. Latency is the receiver's clock minus the
 * time in the message, counted after the warm-up as in the latency case.
 */
export async function measureBareHop(rates: number[], warmupMs: number, durationMs: number): Promise<HopResult[]> {
  const results: HopResult[] = [];
  for (const withCurve of [false, true]) {
    const keys = curveKeyPair();
    const curve: HopCurve | undefined = withCurve ? { serverPublicKey: keys.publicKey, serverSecretKey: keys.secretKey } : undefined;
    const pub = new HopPeer('pub');
    const sub = new HopPeer('sub');
    try {
      const port = await freePort();
      await pub.send({ type: 'open', port, curve });
      await sub.send({ type: 'open', port, curve });
      for (const rate of rates) {
        const startAt = now() + 200;
        await sub.send({ type: 'arm', from: startAt + warmupMs, to: startAt + warmupMs + durationMs });
        const { sent } = await pub.send({ type: 'send', rate, startAt, durationMs: warmupMs + durationMs });
        await delay(500);
        const { latencies } = await sub.send({ type: 'collect' });
        results.push({ rate, curve: withCurve, ...percentiles(latencies), sent });
      }
    } finally {
      pub.stop();
      sub.stop();
    }
  }
  return results;
}
