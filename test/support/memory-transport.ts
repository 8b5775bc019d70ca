import { noHandshakes } from '../../src/transport/handshake-counts';
import { PeerHolds } from '../../src/transport/peer-holds';
import { PROTOCOL_VERSION, type Envelope, type NodeAddresses } from '../../src/transport/envelope';
import { parseErrorBody, PeerNotConnectedError, RemoteHandlerError, RequestTimeoutError, TransportClosedError } from '../../src/transport/errors';
import type { BroadcastHandler, DisconnectHandler, GapHandler, RequestHandler, RequestSigner, Transport, TransportStats } from '../../src/transport/transport';
import { decodeEnvelope, encodeEnvelope } from '../../src/transport/codec';
import { codeOf } from '../../src/util/cluster-error';
import { describeError } from '../../src/util/describe-error';

/**
 * In-process {@link Transport}s for unit tests: several nodes in one process,
 * with the same contract as ZmqTransport (broadcasts reach the peers that
 * connected to the sender, in order; requests need a connection; replies
 * carry error codes), and links that a test can cut.
 */
export class MemoryNetwork {
  readonly nodes = new Map<string, MemoryTransport>();
  private readonly cut = new Set<string>();

  /**
   * A node's transport; `host` names its sockets (another node's: a process
   * restarted on its ports); `curveKey`: the server key it advertises.
   */
  transport(nodeId: string, host = nodeId, curveKey?: string): MemoryTransport {
    const transport = new MemoryTransport(nodeId, this, host, curveKey);
    this.nodes.set(nodeId, transport);
    return transport;
  }

  /** Messages between `a` and `b` are lost, both ways, until {@link heal}. */
  cutLink(a: string, b: string): void {
    this.cut.add(key(a, b));
  }

  heal(a: string, b: string): void {
    this.cut.delete(key(a, b));
  }

  reachable(a: string, b: string): boolean {
    return !this.cut.has(key(a, b)) && this.nodes.get(b)?.closed === false;
  }

  /**
   * The process of `nodeId` dies: its transport closes, and every node
   * connected to it sees its connection closed (as a DEALER sees a
   * ROUTER's connection drop).
   */
  async crash(nodeId: string): Promise<void> {
    const dead = this.nodes.get(nodeId);
    await dead?.close();
    for (const node of this.nodes.values()) if (node !== dead && node.isConnected(nodeId)) node.connectionClosed(nodeId);
  }
}

const key = (a: string, b: string): string => [a, b].sort().join('|');
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class MemoryTransport implements Transport {
  closed = false;
  readonly sent: Envelope[] = [];
  private readonly links = new Set<string>();
  private incarnation = 0;
  private seq = 0;
  private broadcastHandler: BroadcastHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private gapHandler: GapHandler | undefined;
  private disconnectHandler: DisconnectHandler | undefined;
  private signer: RequestSigner | undefined;
  /** Peers held (see {@link Transport.holdBroadcasts}), as ZmqTransport keeps them. */
  private readonly holds = new PeerHolds();
  /** What held peers sent, waiting here in order until read. */
  private readonly unread = new Map<string, Envelope[]>();
  /** While frozen, what arrives waits, as in the sockets of a stopped process. */
  private frozen: Array<() => void> | undefined;
  private readonly counters = { published: 0, addressed: 0, received: 0, requestsSent: 0, requestsReceived: 0, timeouts: 0 };

  constructor(
    readonly nodeId: string,
    private readonly network: MemoryNetwork,
    private readonly host: string = nodeId,
    private readonly curveKey?: string,
  ) {}

  async bind(): Promise<NodeAddresses> {
    return { router: `tcp://memory/${this.host}/router`, pub: `tcp://memory/${this.host}/pub`, ...(this.curveKey ? { curveKey: this.curveKey } : {}) };
  }

  setIncarnation(incarnation: number): void {
    this.incarnation = incarnation;
  }

  connect(peerId: string): void {
    if (this.closed) throw new TransportClosedError();
    this.links.add(peerId);
  }

  disconnect(peerId: string): void {
    this.links.delete(peerId);
    // What waited unread in the closed socket is gone with it; the hold stays (by peer id, as ZmqTransport's).
    this.unread.delete(peerId);
  }

  peers(): string[] {
    return [...this.links];
  }

  isConnected(peerId: string): boolean {
    return this.links.has(peerId);
  }

  publish(type: string, body: unknown): Promise<void> {
    // A body JSON cannot hold throws at once, as the real transport's does.
    JSON.stringify(body);
    return this.send(undefined, type, body);
  }

  publishTo(peerIds: readonly string[], type: string, body: unknown): Promise<void> {
    JSON.stringify(body);
    return peerIds.length > 0 ? this.send(new Set(peerIds), type, body) : Promise.resolve();
  }

  /** A broadcast (`to` undefined) or a message to the peers of `to` only. */
  private async send(to: ReadonlySet<string> | undefined, type: string, body: unknown): Promise<void> {
    if (this.closed) throw new TransportClosedError();
    if (this.frozen) {
      // A frozen process sends nothing: what it was about to send leaves once it runs again.
      this.frozen.push(() => void this.send(to, type, body).catch(() => undefined));
      return;
    }
    const envelope = this.envelope(type, to ? 0 : ++this.seq, body);
    this.sent.push(envelope);
    if (to) this.counters.addressed += to.size;
    else this.counters.published++;
    const copy = JSON.parse(JSON.stringify(envelope)) as Envelope;
    for (const node of this.network.nodes.values()) {
      if (node !== this && (!to || to.has(node.nodeId)) && node.links.has(this.nodeId) && this.network.reachable(this.nodeId, node.nodeId)) {
        void tick().then(() => node.receiveBroadcast(copy));
      }
    }
  }

  holdBroadcasts(peerId: string, until: Promise<void>): void {
    this.holds.hold(peerId, until);
    // Once released, what waited is read in order; a handler holding the peer again sends the rest back to wait.
    void this.holds.until(peerId, () => () => undefined)?.then(() => {
      if (this.holds.holding(peerId)) return;
      const waiting = this.unread.get(peerId) ?? [];
      this.unread.delete(peerId);
      for (const envelope of waiting) this.receiveBroadcast(envelope);
    });
  }

  holding(peerId: string): boolean {
    return this.holds.holding(peerId);
  }

  async request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    if (this.closed) throw new TransportClosedError();
    if (!this.links.has(peerId)) throw new PeerNotConnectedError(peerId);
    const envelope = this.onTheWire(peerId, this.envelope(type, 0, body));
    this.sent.push(envelope);
    this.counters.requestsSent++;
    const target = this.network.nodes.get(peerId);
    await tick();
    if (!target || !this.network.reachable(this.nodeId, peerId) || !target.requestHandler) {
      await new Promise((resolve) => setTimeout(resolve, timeoutMs));
      this.counters.timeouts++;
      throw new RequestTimeoutError(peerId, type, timeoutMs);
    }
    const handled = target.handleRequest(peerId, type, envelope);
    if (!target.frozen) return handled;
    // A frozen peer answers once thawed: too late for a request that timed out meanwhile.
    handled.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.counters.timeouts++;
        reject(new RequestTimeoutError(peerId, type, timeoutMs));
      }, timeoutMs);
    });
    try {
      return await Promise.race([handled, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends a request whose envelope names `from` as its sender: what a node holding the key could try. */
  async requestAs(from: string, peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    const target = this.network.nodes.get(peerId);
    if (!target) throw new PeerNotConnectedError(peerId);
    const envelope = this.onTheWire(peerId, { ...this.envelope(type, 0, body), from });
    await tick();
    return Promise.race([
      target.handleRequest(peerId, type, envelope),
      new Promise<never>((_resolve, reject) => setTimeout(() => reject(new RequestTimeoutError(peerId, type, timeoutMs)), timeoutMs).unref()),
    ]);
  }

  /** A request as the peer decodes it from the wire: signed, encoded, decoded (a copy, with the bytes its MAC covers). */
  private onTheWire(peerId: string, envelope: Envelope): Envelope {
    const { signer } = this;
    const decoded = decodeEnvelope(encodeEnvelope(envelope, undefined, signer ? (signed) => signer(peerId, signed) : undefined));
    if (!decoded) throw new Error(`a request that does not decode: ${envelope.type}`);
    return decoded;
  }

  private async handleRequest(peerId: string, type: string, envelope: Envelope): Promise<Envelope> {
    if (this.frozen) await new Promise<void>((resolve) => this.frozen?.push(resolve));
    const handler = this.requestHandler;
    if (!handler) throw new RequestTimeoutError(peerId, type, 0);
    this.counters.requestsReceived++;
    try {
      const reply = await handler(envelope);
      return { ...this.envelope(reply.type, 0, JSON.parse(JSON.stringify(reply.body ?? null)) as unknown) };
    } catch (error) {
      throw new RemoteHandlerError(this.nodeId, type, parseErrorBody({ code: codeOf(error), message: describeError(error) }));
    }
  }

  onBroadcast(handler: BroadcastHandler): void {
    this.broadcastHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onGap(handler: GapHandler): void {
    this.gapHandler = handler;
  }

  onDisconnect(handler: DisconnectHandler): void {
    this.disconnectHandler = handler;
  }

  setSigner(signer: RequestSigner): void {
    this.signer = signer;
  }

  /** Bytes are not counted here. */
  countTypes(): void {}

  /** Reports `missed` broadcasts of `peerId` lost, as a sequence gap on a SUB would. */
  injectGap(peerId: string, missed: number): void {
    this.gapHandler?.(peerId, 1, 1 + missed);
  }

  /** The connection to `peerId` was closed by the other side. */
  connectionClosed(peerId: string): void {
    this.disconnectHandler?.(peerId);
  }

  /** Stops handling what arrives (it waits) until {@link thaw}: with a paused scheduler, a frozen process. */
  freeze(): void {
    this.frozen ??= [];
  }

  thaw(): void {
    const waiting = this.frozen ?? [];
    this.frozen = undefined;
    for (const deliver of waiting) deliver();
  }

  published(): number {
    return this.counters.published;
  }

  stats(): TransportStats {
    return {
      ...this.counters,
      bytesSent: 0,
      bytesReceived: 0,
      pendingRequests: 0,
      dropped: { malformed: 0, foreignSender: 0, replayed: 0, unauthenticated: 0 },
      bytesByType: { sent: {}, received: {} },
      gaps: {},
      handshakes: noHandshakes(),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.links.clear();
  }

  private envelope(type: string, seq: number, body: unknown): Envelope {
    return { v: PROTOCOL_VERSION, type, from: this.nodeId, inc: this.incarnation, seq, body };
  }

  private receiveBroadcast(envelope: Envelope): void {
    if (this.frozen) {
      this.frozen.push(() => this.receiveBroadcast(envelope));
      return;
    }
    if (this.closed || !this.links.has(envelope.from)) return;
    if (this.holds.holding(envelope.from)) {
      const waiting = this.unread.get(envelope.from) ?? [];
      waiting.push(envelope);
      this.unread.set(envelope.from, waiting);
      return;
    }
    this.counters.received++;
    this.broadcastHandler?.(envelope);
  }
}
