// `node bench/trace/notification-cost.mjs NODES SUBSCRIBERS PUBLISHES` (after `npm run build`):
// what one change costs each node. SUBSCRIBERS clients subscribe to one room on node 2
// (node 1 with NODES=1, one Kuzzle without the plugin), 32 publishers on node 1 send
// PUBLISHES `realtime:publish` (~400-byte body, 32 in flight), and each Kuzzle process's
// CPU time (from /proc, all its threads: libzmq's I/O thread included) is divided by
// the number of publishes. With NODES=2: node 1 = the publish, plus sending the change
// to node 2; node 2 = receiving it and delivering it to its subscribers. SUBSCRIBERS=0
// leaves node 1 with the publish alone (no peer listens: nothing is sent).
import sdk from 'kuzzle-sdk';
const { Kuzzle, WebSocket } = sdk;
import { setTimeout as sleep } from 'node:timers/promises';
import { startProbeStack } from './probe-stack.mjs';
const nodes = Number(process.argv[2] ?? 2);
const subscribers = Number(process.argv[3] ?? 16);
const total = Number(process.argv[4] ?? 20000);
const stack = await startProbeStack(nodes);
const { side } = stack;
const connect = async (node) => {
  const client = new Kuzzle(new WebSocket('127.0.0.1', { port: side.port(node), pingInterval: 120000, autoReconnect: false }), { autoResubscribe: false });
  await client.connect();
  return client;
};
let received = 0;
const clients = [];
for (let i = 0; i < subscribers; i++) {
  const client = await connect(nodes === 1 ? 1 : 2);
  await client.realtime.subscribe(side.index, 'c', {}, () => received++);
  clients.push(client);
}
const publishers = [];
for (let i = 0; i < 8; i++) publishers.push(await connect(1));
clients.push(...publishers);
const body = { text: 'x'.repeat(400), n: 1 };
const publish = async (count) => {
  let next = 0;
  await Promise.all(publishers.flatMap((client) => Array.from({ length: 4 }, async () => {
    while (next < count) {
      next++;
      await client.realtime.publish(side.index, 'c', body);
    }
  })));
  const deadline = Date.now() + 30000;
  while (received < count * subscribers && Date.now() < deadline) await sleep(5);
};
await publish(2000); // warm-up
received = 0;
const before = side.cpuSeconds();
await publish(total);
const after = side.cpuSeconds();
const usPerPublish = before.map((cpu, i) => Math.round(((after[i] - cpu) * 1e7) / total) / 10);
console.log(JSON.stringify({ nodes, subscribers, publishes: total, notified: received, usPerPublish }));
for (const client of clients) client.disconnect();
await stack.stop();
