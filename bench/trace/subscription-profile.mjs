// `[SPREAD=1] node bench/trace/subscription-profile.mjs NODES COUNT DIR|-` (after
// `npm run build`): COUNT distinct subscriptions through node 1 of a NODES-node cluster
// (NODES=1: one Kuzzle without the plugin), or spread evenly over its nodes with
// SPREAD=1, then their removal, every Kuzzle process under `node --cpu-prof` writing
// its profile to DIR at exit (`-`: no profiler). Prints each node's CPU µs per
// operation, each phase's wall time, Redis's CPU and scripts per operation, and how many reads Redis made per operation (from every client of that
// Redis; during the phases mostly the plugin's writes: how well they were batched),
// and writes DIR/window.json
// (the phases' bounds on the profiles' clock) for
// `python3 bench/trace/profile-categories.py DIR sub|unsub`.
import sdk from 'kuzzle-sdk';
const { Kuzzle, WebSocket } = sdk;
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProbeStack } from './probe-stack.mjs';
const nodes = Number(process.argv[2] ?? 2);
const total = Number(process.argv[3] ?? 20000);
const profDir = process.argv[4] ?? '/tmp/prof';
const profiled = profDir !== '-';
const spread = process.env.SPREAD === '1';
if (profiled) {
  mkdirSync(profDir, { recursive: true });
  process.env.KPC_KUZZLE_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${profDir}`;
}
const stack = await startProbeStack(nodes);
const { side } = stack;
/** Reads Redis made from all its clients' sockets so far (Redis 6+). */
const redisReads = () => Number(/total_reads_processed:(\d+)/.exec(execFileSync('redis-cli', ['-p', String(side.stack.redis.port), 'INFO', 'stats']).toString())?.[1]);
/** Scripts Redis ran so far (EVALSHA calls). */
const redisScripts = () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(execFileSync('redis-cli', ['-p', String(side.stack.redis.port), 'INFO', 'commandstats']).toString())?.[1] ?? 0);
const clients = [];
for (let i = 0; i < 20; i++) {
  const k = new Kuzzle(new WebSocket('127.0.0.1', { port: side.port(spread ? 1 + (i % nodes) : 1), pingInterval: 120000, autoReconnect: false }), { autoResubscribe: false });
  await k.connect();
  clients.push(k);
}
const rooms = [];
const t0 = process.hrtime.bigint();
const cpu0 = side.cpuSeconds();
const reads0 = redisReads();
const scripts0 = redisScripts();
const redisCpu0 = side.redisCpuSeconds();
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
const reads1 = redisReads();
const scripts1 = redisScripts();
const redisCpu1 = side.redisCpuSeconds();
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
const reads2 = redisReads();
const scripts2 = redisScripts();
const redisCpu2 = side.redisCpuSeconds();
const us = (a, b, n) => a.map((x, i) => Math.round(((b[i] - x) * 1e6) / n));
console.log(JSON.stringify({
  subscribeUsPerOp: us(cpu0, cpu1, total),
  unsubscribeUsPerOp: us(cpu1, cpu2, total),
  redisReadsPerSubscription: (reads1 - reads0) / total,
  redisReadsPerUnsubscription: (reads2 - reads1) / total,
  redisScriptsPerSubscription: (scripts1 - scripts0) / total,
  redisScriptsPerUnsubscription: (scripts2 - scripts1) / total,
  // Redis's CPU over each phase (the second after it included), µs per operation.
  redisUsPerSubscription: Math.round(((redisCpu1 - redisCpu0) * 1e6) / total),
  redisUsPerUnsubscription: Math.round(((redisCpu2 - redisCpu1) * 1e6) / total),
  // Each phase's wall time, less the second waited after it.
  subscribeSeconds: Number(t1 - t0) / 1e9 - 1,
  unsubscribeSeconds: Number(t2 - t1) / 1e9 - 1,
}));
if (profiled) writeFileSync(`${profDir}/window.json`, JSON.stringify({ t0: Number(t0 / 1000n), t1: Number(t1 / 1000n), t2: Number(t2 / 1000n) }));
for (const c of clients) c.disconnect();
await stack.stop();
