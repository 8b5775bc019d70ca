import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, Socket, type Server } from 'node:net';
import { after, describe, it } from 'node:test';
import { curveKeyPair, Subscriber } from 'zeromq';
import { curveKeysOf } from '../../src/cluster/exposure';
import type { Envelope, NodeAddresses } from '../../src/transport/envelope';
import type { SocketHandshakes } from '../../src/transport/handshake-counts';
import { RequestTimeoutError } from '../../src/transport/errors';
import { ZmqTransport } from '../../src/transport/zmq-transport';
import type { CurveKeys } from '../../src/transport/curve-keys';
import { waitFor } from '../harness/wait';

interface Node {
  transport: ZmqTransport;
  addresses: NodeAddresses;
  broadcasts: Envelope[];
}

const created: ZmqTransport[] = [];
const servers: Server[] = [];
let next = 0;

after(async () => {
  await Promise.all(created.map((t) => t.close()));
  for (const server of servers) server.close();
});

async function startNode(curve: CurveKeys | undefined): Promise<Node> {
  const transport = new ZmqTransport({ nodeId: `curve-${++next}-${process.pid}`, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 }, curve });
  created.push(transport);
  const broadcasts: Envelope[] = [];
  transport.onBroadcast((envelope) => {
    broadcasts.push(envelope);
  });
  transport.onRequest(async (request) => ({ type: 'echo', body: request.body }));
  return { transport, addresses: await transport.bind(), broadcasts };
}

const failures = (counts: SocketHandshakes): number => Object.values(counts.failed).reduce((sum, count) => sum + count, 0);

/** True once `to`'s broadcasts reach `from` (retrying the slow-joiner publish). */
async function hears(from: Node, to: Node, timeoutMs: number): Promise<boolean> {
  from.transport.connect(to.transport.nodeId, to.addresses);
  try {
    await waitFor('a broadcast through', async () => {
      await to.transport.publish('probe', { secret: 'TOP-SECRET-PAYLOAD' });
      return from.broadcasts.some((e) => e.from === to.transport.nodeId);
    }, { timeoutMs, intervalMs: 50 });
    return true;
  } catch {
    return false;
  }
}

/** A TCP relay that records every byte going through it. */
async function recordingRelay(target: string): Promise<{ endpoint: string; bytes: () => Buffer }> {
  const [, host = '', port = ''] = /^tcp:\/\/(.+):(\d+)$/.exec(target) ?? [];
  const chunks: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(port), host);
    client.on('data', (data: Buffer) => {
      chunks.push(data);
      upstream.write(data);
    });
    upstream.on('data', (data: Buffer) => {
      chunks.push(data);
      client.write(data);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const relayPort = typeof address === 'object' && address ? address.port : 0;
  return { endpoint: `tcp://127.0.0.1:${relayPort}`, bytes: () => Buffer.concat(chunks) };
}

describe('ZmqTransport with CURVE', () => {
  const clusterKeys = curveKeysOf({ secretKey: curveKeyPair().secretKey, accept: [] });

  it('nodes holding the cluster key talk both ways, and their traffic is unreadable on the wire', async () => {
    const a = await startNode(clusterKeys);
    const b = await startNode(clusterKeys);
    assert.equal(a.addresses.curveKey, clusterKeys.publicKey, 'the card advertises the key the node serves with');
    // b reaches a's PUB through a relay that records what a listener on the network would see.
    const relay = await recordingRelay(a.addresses.pub);
    assert.ok(await hears(b, { ...a, addresses: { ...a.addresses, pub: relay.endpoint } }, 10_000));
    assert.ok(await hears(a, b, 10_000));
    const reply = await a.transport.request(b.transport.nodeId, 'echo', { secret: 'TOP-SECRET-PAYLOAD' }, 5000);
    assert.deepEqual(reply.body, { secret: 'TOP-SECRET-PAYLOAD' });
    const wire = relay.bytes();
    assert.ok(wire.length > 200, 'traffic went through the relay');
    assert.equal(wire.includes('TOP-SECRET-PAYLOAD'), false, 'no plaintext on the wire');
    assert.equal(wire.includes(a.transport.nodeId), false, 'not even the sender id');
  });

  it('a node without a key, or with another key, can neither subscribe, nor send requests; the refusals are counted', async () => {
    const member = await startNode(clusterKeys);
    const plain = await startNode(undefined);
    const stranger = await startNode(curveKeysOf({ secretKey: curveKeyPair().secretKey, accept: [] }));
    for (const intruder of [plain, stranger]) {
      assert.equal(await hears(intruder, member, 1500), false, `${intruder.transport.nodeId} must not hear the cluster`);
      await assert.rejects(intruder.transport.request(member.transport.nodeId, 'echo', {}, 500), RequestTimeoutError);
    }
    // Each intruder's SUB and DEALER failed its handshake (however libzmq
    // saw it end), and the stranger's key was refused on both sockets.
    await waitFor('the refused handshakes counted', () => {
      const { router, pub } = member.transport.stats().handshakes;
      return failures(router) >= 2 && failures(pub) >= 2 && router.keysRefused >= 1 && pub.keysRefused >= 1;
    }, { timeoutMs: 5000 });
    const { handshakes, dropped } = member.transport.stats();
    assert.equal(handshakes.router.completed + handshakes.pub.completed, 0, 'no intruder completed a handshake');
    assert.equal(dropped.unauthenticated, failures(handshakes.router) + failures(handshakes.pub));
    // A raw SUB with no key: nothing.
    const sub = new Subscriber({ linger: 0 });
    sub.subscribe();
    sub.connect(member.addresses.pub);
    sub.receiveTimeout = 1000;
    for (let i = 0; i < 5; i++) await member.transport.publish('probe', { secret: 'x' });
    await assert.rejects(sub.receive(), /timed out|EAGAIN/i);
    sub.close();
  });

  it('rolls over to a new key without a break: a node on the new key and a node on the old one accept each other', async () => {
    const oldPair = curveKeyPair();
    const newPair = curveKeyPair();
    const onOld = await startNode(curveKeysOf({ secretKey: oldPair.secretKey, accept: [newPair.publicKey] }));
    const onNew = await startNode(curveKeysOf({ secretKey: newPair.secretKey, accept: [oldPair.publicKey] }));
    assert.ok(await hears(onOld, onNew, 10_000));
    assert.ok(await hears(onNew, onOld, 10_000));
    assert.deepEqual((await onNew.transport.request(onOld.transport.nodeId, 'echo', 1, 5000)).body, 1);
    // A node that only knows the new key does not accept the old one.
    const newOnly = await startNode(curveKeysOf({ secretKey: newPair.secretKey, accept: [] }));
    assert.equal(await hears(onOld, newOnly, 1500), false);
  });

  it('a stranger that hangs up before the node answers its handshake is still counted as refused', async () => {
    const member = await startNode(clusterKeys);
    const before = member.transport.stats().handshakes.router;
    // The stranger runs in another process while this one is blocked
    // (spawnSync): the ZAP handler, on this event loop, cannot answer before
    // the stranger has hung up. libzmq then reports the handshake as cut
    // short rather than refused; the refusal must be counted all the same.
    const stranger = `
      const { Dealer, curveKeyPair } = require(${JSON.stringify(require.resolve('zeromq'))});
      const own = curveKeyPair();
      const dealer = new Dealer({ linger: 0, curveServerKey: ${JSON.stringify(clusterKeys.publicKey)}, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey });
      dealer.connect(${JSON.stringify(member.addresses.router)});
      dealer.send('let me in').catch(() => undefined);
      setTimeout(() => { dealer.close(); process.exit(0); }, 1000);`;
    const run = spawnSync(process.execPath, ['-e', stranger], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    await waitFor('the refusal and the cut-short handshake counted', () => {
      const now = member.transport.stats().handshakes.router;
      return now.keysRefused > before.keysRefused && now.failed.cutShort > before.failed.cutShort;
    }, { timeoutMs: 5000 });
    assert.equal(member.transport.stats().handshakes.router.completed, before.completed);
  });

  it('with CURVE, frames of nearly maxFrameBytes and bigger messages in fragments go through (CURVE\'s wrapping counts against the peer\'s limit)', async () => {
    const limits = { maxFrameBytes: 64 * 1024 };
    const make = async () => {
      const transport = new ZmqTransport({ nodeId: `curve-${++next}-${process.pid}`, router: { host: '127.0.0.1', port: 0 }, pub: { host: '127.0.0.1', port: 0 }, curve: clusterKeys, ...limits });
      created.push(transport);
      transport.onRequest(async (request) => ({ type: 'echo', body: request.body }));
      return { transport, addresses: await transport.bind(), broadcasts: [] as Envelope[] };
    };
    const a = await make();
    const b = await make();
    a.transport.connect(b.transport.nodeId, b.addresses);
    for (const size of [limits.maxFrameBytes - 400, limits.maxFrameBytes - 100, limits.maxFrameBytes - 20, 300_000]) {
      const body = 'x'.repeat(size);
      const reply = await a.transport.request(b.transport.nodeId, 'echo', body, 10_000);
      assert.equal(reply.body, body, `a body of ${size} bytes`);
    }
    assert.equal(b.transport.stats().handshakes.router.completed, 1, 'one connection all along: none was dropped for an oversized frame');
  });
});
