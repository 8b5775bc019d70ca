// One end of the bare hop: `node hop-peer.js pub|sub`, driven by the bench
// over IPC. Nothing but ZeroMQ and JSON between the two clocks, so the hop
// is the floor a cluster notification can get down to.
import { Publisher, Subscriber, curveKeyPair } from 'zeromq';
import { now, sleepUntil } from '../load/clock';
import type { HopCommand, HopReply } from './protocol';

/** Size of each message, about a forwarded document notification's. */
const MESSAGE_BYTES = 600;
const PADDING = 'x'.repeat(MESSAGE_BYTES);

const role = process.argv[2];
let publisher: Publisher | undefined;
let subscriber: Subscriber | undefined;
let window = { from: 0, to: 0 };
let latencies: number[] = [];

/** A JSON message of {@link MESSAGE_BYTES} bytes carrying its send time. */
function message(t: number): string {
  const head = JSON.stringify({ t, pad: '' });
  return JSON.stringify({ t, pad: PADDING.slice(0, Math.max(0, MESSAGE_BYTES - head.length)) });
}

async function receive(socket: Subscriber): Promise<void> {
  for await (const [frame] of socket) {
    const at = now();
    const { t } = JSON.parse(String(frame)) as { t: number };
    if (t >= window.from && t < window.to) latencies.push(at - t);
  }
}

/** Keeps the main thread busy, as a Kuzzle node's is with the rest of a request after it handed a change to libzmq. */
function spin(us: number): void {
  const until = now() + us / 1000;
  while (now() < until) {
    // Busy on purpose.
  }
}

async function send(rate: number, startAt: number, durationMs: number, busyUs: number): Promise<{ sent: number }> {
  if (!publisher) throw new Error('not open');
  const interval = 1000 / rate;
  let sent = 0;
  for (let due = startAt; due < startAt + durationMs; due += interval) {
    // Open loop: each message leaves at its own time, whatever the previous one did.
    if (due > now()) await sleepUntil(due);
    await publisher.send(message(now()));
    sent++;
    if (busyUs > 0) spin(busyUs);
  }
  return { sent };
}

async function run(command: HopCommand): Promise<unknown> {
  switch (command.type) {
    case 'open':
      if (role === 'pub') {
        publisher = new Publisher({ sendHighWaterMark: 100_000 });
        if (command.curve) {
          publisher.curveServer = true;
          publisher.curveSecretKey = command.curve.serverSecretKey;
        }
        await publisher.bind(`tcp://127.0.0.1:${command.port}`);
      } else {
        subscriber = new Subscriber({ receiveHighWaterMark: 100_000 });
        if (command.curve) {
          const own = curveKeyPair();
          subscriber.curveServerKey = command.curve.serverPublicKey;
          subscriber.curvePublicKey = own.publicKey;
          subscriber.curveSecretKey = own.secretKey;
        }
        subscriber.subscribe();
        subscriber.connect(`tcp://127.0.0.1:${command.port}`);
        void receive(subscriber);
      }
      return {};
    case 'arm':
      window = { from: command.from, to: command.to };
      latencies = [];
      return {};
    case 'send':
      return send(command.rate, command.startAt, command.durationMs, command.busyUs ?? 0);
    case 'collect':
      return { latencies };
  }
}

process.on('message', (command: HopCommand) => {
  run(command).then(
    (result) => process.send?.({ ok: true, result } satisfies HopReply),
    (error: unknown) => process.send?.({ ok: false, error: error instanceof Error ? error.message : String(error) } satisfies HopReply),
  );
});
process.on('disconnect', () => {
  publisher?.close();
  subscriber?.close();
  process.exit(0);
});
