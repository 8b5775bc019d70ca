// `node bench/trace/busy-sender-hop.mjs BUSY_US`: the bare hop (PUB → SUB
// with CURVE between two Node processes, ~600-byte JSON, 1,000/s for 8 s,
// the first second left out), with the sender's main thread spinning
// BUSY_US after each send, as a Kuzzle node goes on with a request after
// handing its change to libzmq. Prints the hop's p50. Does waiting for the
// main thread delay libzmq's I/O thread on the way out?
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Publisher, Subscriber, curveKeyPair } from 'zeromq';

const now = () => performance.timeOrigin + performance.now();
const PADDING = 'x'.repeat(560);
const RATE = 1000;
const SECONDS = 8;

async function subscriber(port, serverKey) {
  const socket = new Subscriber();
  const own = curveKeyPair();
  socket.curveServerKey = serverKey;
  socket.curvePublicKey = own.publicKey;
  socket.curveSecretKey = own.secretKey;
  socket.subscribe();
  socket.connect(`tcp://127.0.0.1:${port}`);
  const latencies = [];
  process.on('message', () => {
    latencies.sort((a, b) => a - b);
    process.send({ p50: latencies[latencies.length >> 1], samples: latencies.length });
  });
  for await (const [frame] of socket) {
    const { t } = JSON.parse(String(frame));
    if (t > 0) latencies.push(now() - t);
  }
}

async function publisher(busyUs) {
  const keys = curveKeyPair();
  const socket = new Publisher();
  socket.curveServer = true;
  socket.curveSecretKey = keys.secretKey;
  const port = 20000 + Math.floor(Math.random() * 10000);
  await socket.bind(`tcp://127.0.0.1:${port}`);
  const child = fork(fileURLToPath(import.meta.url), ['sub', String(port), keys.publicKey]);
  await sleep(1000);
  const start = now() + 100;
  for (let i = 0, due = start; due < start + SECONDS * 1000; i++, due += 1000 / RATE) {
    if (due > now()) await sleep(due - now());
    // The first second warms up: its messages carry no time.
    await socket.send(JSON.stringify({ t: i >= RATE ? now() : 0, pad: PADDING }));
    const until = performance.now() + busyUs / 1000;
    while (performance.now() < until) {
      // Spinning: the main thread stays busy, as Kuzzle's does with the rest of a request.
    }
  }
  await sleep(300);
  child.once('message', ({ p50, samples }) => {
    console.log(`sender busy ${busyUs} µs after each send: hop p50 ${Math.round(p50 * 1000)} µs (${samples} messages)`);
    child.kill();
    socket.close();
  });
  child.send('collect');
}

if (process.argv[2] === 'sub') await subscriber(Number(process.argv[3]), process.argv[4]);
else await publisher(Number(process.argv[2] ?? 0));
