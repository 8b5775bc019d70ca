// `node bench/trace/subscription-profile.mjs NODES COUNT DIR` (after `npm run build`):
// COUNT distinct subscriptions through node 1 of a NODES-node cluster (NODES=1: one
// Kuzzle without the plugin), then their removal, every Kuzzle process under
// `node --cpu-prof` writing its profile to DIR at exit. Prints each node's CPU µs per
// operation and writes DIR/window.json (the phases' bounds on the profiles' clock) for
// `python3 bench/trace/profile-categories.py DIR sub|unsub`.
import sdk from 'kuzzle-sdk';
const { Kuzzle, WebSocket } = sdk;
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProbeStack } from './probe-stack.mjs';
const nodes = Number(process.argv[2] ?? 2);
const total = Number(process.argv[3] ?? 20000);
const profDir = process.argv[4] ?? '/tmp/prof';
process.env.KPC_KUZZLE_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir}`;
const stack = await startProbeStack(nodes);
const { side } = stack;
const clients = [];
for (let i = 0; i < 20; i++) {
  const k = new Kuzzle(new WebSocket('127.0.0.1', { port: side.port(1), pingInterval: 120000, autoReconnect: false }), { autoResubscribe: false });
  await k.connect();
  clients.push(k);
}
const rooms = [];
const t0 = process.hrtime.bigint();
const cpu0 = side.cpuSeconds();
let next = 0;
await Promise.all(clients.flatMap((client) => Array.from({ length: 10 }, async () => {
  while (next < total) {
    const i = next++;
    rooms.push([client, await client.realtime.subscribe(side.index, `c${i % 10}`, { equals: { n: i } }, () => {})]);
  }
})));
await sleep(1000);
const t1 = process.hrtime.bigint();
const cpu1 = side.cpuSeconds();
let j = 0;
await Promise.all(clients.flatMap(() => Array.from({ length: 10 }, async () => {
  while (j < rooms.length) {
    const [client, roomId] = rooms[j++];
    await client.realtime.unsubscribe(roomId);
  }
})));
await sleep(1000);
const t2 = process.hrtime.bigint();
const cpu2 = side.cpuSeconds();
const us = (a, b, n) => a.map((x, i) => Math.round(((b[i] - x) * 1e6) / n));
console.log(JSON.stringify({ subscribeUsPerOp: us(cpu0, cpu1, total), unsubscribeUsPerOp: us(cpu1, cpu2, total) }));
writeFileSync(`${profDir}/window.json`, JSON.stringify({ t0: Number(t0 / 1000n), t1: Number(t1 / 1000n), t2: Number(t2 / 1000n) }));
for (const c of clients) c.disconnect();
await stack.stop();
