import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Kuzzle } from 'kuzzle-sdk';
import { curveKeyPair, Dealer, Subscriber } from 'zeromq';
import { curvePublicKey } from '../../src/transport/curve-keys';
import { encodeEnvelope, decodeEnvelope } from '../../src/transport/codec';
import { PROTOCOL_VERSION, type Envelope } from '../../src/transport/envelope';
import { repoRoot } from '../harness/run-dir';
import { GiveUpError, waitFor } from '../harness/wait';
import { ensureCollection, portOf, Recorder, uniqueName, useStack, wsClient } from './support/fixture';

interface Handshakes {
  accepted: number;
  completed: number;
  failed: Record<string, number>;
  keysRefused: number;
}

const failures = (counts: Handshakes): number => Object.values(counts.failed).reduce((sum, count) => sum + count, 0);

interface Status {
  node: { id: string };
  members: number;
  transport: { dropped: Record<string, number>; handshakes: { router: Handshakes; pub: Handshakes } };
  messages: { dropped: Record<string, number> };
  evictions: Record<string, number>;
}

/** How long a request the test expects no answer to is given (a late answer would show in the counts checked after). */
const NO_ANSWER_MS = 1500;

/** A raw ZeroMQ DEALER speaking to a node's ROUTER with the given CURVE keys (or none). */
class RawClient {
  readonly dealer: Dealer;
  private rid = 0;

  constructor(routerPort: number, routingId: string, keys?: { publicKey: string; secretKey: string; serverKey: string }) {
    this.dealer = new Dealer({
      linger: 0,
      routingId,
      // With no accepted connection a send would wait forever: give up instead.
      sendTimeout: 1500,
      ...(keys ? { curveServerKey: keys.serverKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {}),
    });
    this.dealer.connect(`tcp://127.0.0.1:${routerPort}`);
  }

  /**
   * Sends one request and resolves with its reply (one to an earlier
   * request, come late, is skipped), or undefined when none comes within
   * `waitMs`: long where a reply is expected (a loaded machine), short
   * where the test asserts there is none.
   */
  async ask(fields: Partial<Envelope> & { type: string }, waitMs = 15_000): Promise<Envelope | undefined> {
    const envelope: Envelope = { v: PROTOCOL_VERSION, from: 'x', inc: 1, seq: 0, rid: `r${++this.rid}`, body: {}, ...fields };
    try {
      await this.dealer.send(encodeEnvelope(envelope));
    } catch {
      return undefined; // not even accepted for sending: no connection
    }
    const deadline = Date.now() + waitMs;
    for (let left = waitMs; left > 0; left = deadline - Date.now()) {
      this.dealer.receiveTimeout = left;
      try {
        const [frame] = await this.dealer.receive();
        const reply = frame ? decodeEnvelope(frame) : undefined;
        if (reply?.re === envelope.rid) return reply;
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  close(): void {
    this.dealer.close();
  }
}

/**
 * The cluster ports are closed to strangers: every socket is CURVE-encrypted
 * and only nodes holding the cluster's key (here, from Kuzzle's vault) can
 * connect; an insider holding the key but not registered as a node gets no
 * further than a refused join. Each refusal is counted in status.
 */
describe('security of the cluster ports', () => {
  const stack = useStack({ nodes: 3, curve: 'vault' });
  const index = uniqueName('security');
  const collection = 'c';
  let clients: Kuzzle[] = [];
  const keys = () => {
    const pair = stack().curveKeys;
    assert.ok(pair);
    return pair;
  };
  const routerPort = (node: number): number => stack().node(node).settings.ports.router;
  const pubPort = (node: number): number => stack().node(node).settings.ports.pub;
  const status = (node: number): Promise<Status> => stack().clusterStatus<Status>(node);

  before(async () => {
    clients = [await wsClient(portOf(stack(), 1)), await wsClient(portOf(stack(), 2)), await wsClient(portOf(stack(), 3))];
    await ensureCollection(clients[0] as Kuzzle, index, collection);
  });

  it('the nodes took the key from Kuzzle\'s vault; neither status nor the logs show it', async () => {
    assert.equal((await status(1)).members, 3);
    const secret = keys().secretKey;
    const rc = readFileSync(join(stack().runDir, 'kuzzle-1.kuzzlerc.json'), 'utf8');
    assert.equal(rc.includes(secret), false, 'the key is not in the configuration file');
    for (let node = 1; node <= 3; node++) {
      assert.equal(JSON.stringify(await status(node)).includes(secret), false, `status of node ${node}`);
      assert.equal(readFileSync(stack().node(node).logFile, 'utf8').includes(secret), false, `log of node ${node}`);
    }
  });

  it('a stranger without the key, or with another key: no answer to a forged shutdown, nothing readable on a PUB, every failed handshake counted and the other key refused', async () => {
    const before = (await status(1)).transport.handshakes;
    const strangerKeys = curveKeyPair();
    const node2 = (await status(2)).node.id;
    const plain = new RawClient(routerPort(1), node2);
    const otherKey = new RawClient(routerPort(1), node2, { ...strangerKeys, serverKey: keys().publicKey });
    // A listener on a PUB port without the key: the notifications flowing meanwhile never reach it.
    const sub = new Subscriber({ linger: 0, receiveTimeout: 2000 });
    try {
      for (const attacker of [plain, otherKey]) {
        assert.equal(await attacker.ask({ type: 'kuzzle:admin:shutdown', from: node2 }, NO_ANSWER_MS), undefined, 'no answer');
      }
      sub.subscribe();
      sub.connect(`tcp://127.0.0.1:${pubPort(1)}`);
      const recorder = new Recorder();
      await (clients[1] as Kuzzle).realtime.subscribe(index, collection, { equals: { secret: true } }, recorder.callback);
      await (clients[0] as Kuzzle).realtime.publish(index, collection, { secret: true, text: 'for members only' });
      await recorder.waitCount(1);
      await assert.rejects(sub.receive(), 'nothing received without the key');
      // Each stranger's connection failed its handshake, and the other key
      // was refused. How libzmq reports a keyless client's failure depends
      // on which end reads the other's greeting first (a refusal here, or
      // the client hanging up first), so failures are counted whatever
      // their kind. The strangers stay connected until then: the count must
      // not depend on how fast the node answered before they hung up.
      await waitFor('each stranger\'s failed handshake counted', async () => {
        const { handshakes, dropped } = (await status(1)).transport;
        const grew = {
          routerFailed: failures(handshakes.router) - failures(before.router),
          routerKeysRefused: handshakes.router.keysRefused - before.router.keysRefused,
          pubFailed: failures(handshakes.pub) - failures(before.pub),
        };
        if (grew.routerFailed < 2 || grew.routerKeysRefused < 1 || grew.pubFailed < 1) {
          throw new Error(`since the start: ${JSON.stringify(grew)}; now ${JSON.stringify({ handshakes, dropped })}`);
        }
        return true;
      }, { timeoutMs: 10_000 });
    } finally {
      for (const socket of [plain, otherKey, sub]) socket.close();
    }
    const after = (await status(1)).transport;
    assert.equal(after.dropped.unauthenticated, failures(after.handshakes.router) + failures(after.handshakes.pub), 'unauthenticated counts the failed handshakes');
    assert.equal(after.handshakes.router.completed, before.router.completed, 'no stranger got in');
    assert.equal(after.handshakes.pub.completed, before.pub.completed, 'no stranger got in');
    for (let node = 1; node <= 3; node++) assert.equal(stack().node(node).alive, true, `node ${node} still up`);
    assert.equal((await status(1)).members, 3);
  });

  it('an insider holding the key but not a registered node: forged joins, spoofed senders and member-only requests are refused as unauthenticated, and counted', async () => {
    const victim = (await status(2)).node.id;
    const insiderKeys = { ...keys(), serverKey: keys().publicKey };
    const before = await status(1);
    const forger = new RawClient(routerPort(1), 'intruder', insiderKeys);
    const spoofer = new RawClient(routerPort(1), 'spoofer', insiderKeys);
    try {
      // The cluster-wide shutdown, index removal and local reset, from a node that is not a member.
      // Every request must prove its sender (a MAC with the identity key of a registered card): the insider has none.
      for (const type of ['kuzzle:admin:shutdown', 'kuzzle:index:remove', 'reset:local']) {
        const reply = await forger.ask({ type, from: 'intruder', body: { index: 'x', scope: 'public' } });
        assert.equal(reply?.error, true, `${type} refused`);
        // kuzzle:admin:shutdown is a broadcast: refused as a request before anything else.
        assert.match(JSON.stringify(reply?.body), type === 'kuzzle:admin:shutdown' ? /KPC_WRONG_KIND/ : /KPC_UNAUTHENTICATED/, type);
      }
      // A join with a card that is not registered in Redis: refused, and members stay 3, however many.
      const card = { id: 'intruder', incarnation: 1, startedAt: Date.now(), protocol: PROTOCOL_VERSION, addresses: { router: 'tcp://127.0.0.1:1', pub: 'tcp://127.0.0.1:2' } };
      for (let i = 0; i < 50; i++) {
        const reply = await forger.ask({ type: 'join', from: 'intruder', body: { card } });
        assert.match(JSON.stringify(reply?.body), /KPC_UNAUTHENTICATED/);
      }
      // A request claiming to come from a member, on another connection: dropped, no answer.
      assert.equal(await spoofer.ask({ type: 'kuzzle:index:remove', from: victim, body: { index: index, scope: 'public' } }, NO_ANSWER_MS), undefined);
      assert.equal(await spoofer.ask({ type: 'reset:local', from: victim, inc: 1 }, NO_ANSWER_MS), undefined);
      // Garbage and a broadcast type sent as a request.
      await forger.dealer.send(Buffer.from('not an envelope')).catch(() => undefined);
      const wrongKind = await forger.ask({ type: 'change:documents', from: 'intruder' });
      assert.match(JSON.stringify(wrongKind?.body), /KPC_WRONG_KIND/);
      // The spoofed requests get no answer, so nothing orders their count
      // before this point: wait for it with the sockets still open (a frame
      // not yet read when its sender hangs up may be discarded by ZeroMQ).
      await waitFor('the spoofed requests and the garbage counted', async () => {
        const { dropped } = (await status(1)).transport;
        return (dropped.foreignSender ?? 0) >= (before.transport.dropped.foreignSender ?? 0) + 2 && (dropped.malformed ?? 0) > (before.transport.dropped.malformed ?? 0);
      });
    } finally {
      forger.close();
      spoofer.close();
    }
    const after = await status(1);
    assert.equal(after.members, 3);
    // Counted before the refusal was answered: no wait needed.
    // Two member-only requests and 50 joins.
    assert.ok((after.messages.dropped.unauthenticated ?? 0) >= (before.messages.dropped.unauthenticated ?? 0) + 52);
    assert.ok((after.messages.dropped.wrongKind ?? 0) >= (before.messages.dropped.wrongKind ?? 0) + 1);
    assert.deepEqual(after.evictions, before.evictions, 'nobody evicted');
    // The index is still there on every node.
    for (const client of clients) assert.ok(await client.index.exists(index));
  });

  it('without a key, a node refuses to bind a non-loopback address and says how to get a key; insecure: true starts with a warning', { timeout: 180_000 }, async () => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((info) => info?.family === 'IPv4' && !info.internal)?.address;
    assert.ok(address, 'this machine has a non-loopback IPv4 address');
    const refused = await stack().createNodeWith({
      curve: undefined,
      bindings: { router: `tcp://${address}:0`, pub: `tcp://${address}:0` },
    });
    refused.settings.env = {}; // no vault either
    refused.start();
    await waitFor('the node to exit', () => !refused.alive, { timeoutMs: 60_000 });
    assert.match(refused.logTail(200), /not a loopback address, and the cluster has no CURVE key/);
    assert.match(refused.logTail(200), /npx kuzzle-plugin-cluster keygen/);
    const insecure = await stack().createNodeWith({ curve: undefined, insecure: true, bindings: { router: `tcp://${address}:0`, pub: `tcp://${address}:0` } });
    insecure.settings.env = {};
    insecure.start();
    await waitFor('the insecure node to log its warning', () => {
      if (!insecure.alive) throw new GiveUpError(insecure.logTail(100));
      return /INSECURE: bindings.router binds/.test(insecure.logTail(400));
    }, { timeoutMs: 60_000 });
    await insecure.stop();
  });

  it('keygen prints a key pair whose public key belongs to its secret key', () => {
    const output = execFileSync(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'keygen']).toString();
    // The JSON block ends at the first line that is only "}": Z85 keys may themselves contain "}".
    const pair = JSON.parse(output.slice(0, output.indexOf('\n}') + 2)) as { publicKey: string; secretKey: string };
    assert.equal(pair.secretKey.length, 40);
    assert.equal(curvePublicKey(pair.secretKey), pair.publicKey);
  });
});
