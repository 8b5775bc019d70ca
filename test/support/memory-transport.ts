import { noHandshakes } from '../../src/transport/handshake-counts';
import { PROTOCOL_VERSION, type Envelope, type NodeAddresses } from '../../src/transport/envelope';
import { parseErrorBody, PeerNotConnectedError, RemoteHandlerError, RequestTimeoutError, TransportClosedError } from '../../src/transport/errors';
import type { BroadcastHandler, DisconnectHandler, GapHandler, RequestHandler, Transport, TransportStats } from '../../src/transport/transport';
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

  transport(nodeId: string): MemoryTransport {
    const transport = new MemoryTransport(nodeId, this);
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
  private readonly counters = { published: 0, received: 0, requestsSent: 0, requestsReceived: 0, timeouts: 0 };

  constructor(
    readonly nodeId: string,
    private readonly network: MemoryNetwork,
  ) {}

  async bind(): Promise<NodeAddresses> {
    return { router: `tcp://memory/${this.nodeId}/router`, pub: `tcp://memory/${this.nodeId}/pub` };
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
  }

  peers(): string[] {
    return [...this.links];
  }

  isConnected(peerId: string): boolean {
    return this.links.has(peerId);
  }

  async publish(type: string, body: unknown): Promise<void> {
    if (this.closed) throw new TransportClosedError();
    const envelope = this.envelope(type, ++this.seq, body);
    this.sent.push(envelope);
    this.counters.published++;
    const copy = JSON.parse(JSON.stringify(envelope)) as Envelope;
    for (const node of this.network.nodes.values()) {
      if (node !== this && node.links.has(this.nodeId) && this.network.reachable(this.nodeId, node.nodeId)) {
        void tick().then(() => node.receiveBroadcast(copy));
      }
    }
  }

  async request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    if (this.closed) throw new TransportClosedError();
    if (!this.links.has(peerId)) throw new PeerNotConnectedError(peerId);
    const envelope = this.envelope(type, 0, body);
    this.sent.push(envelope);
    this.counters.requestsSent++;
    const target = this.network.nodes.get(peerId);
    await tick();
    if (!target || !this.network.reachable(this.nodeId, peerId) || !target.requestHandler) {
      await new Promise((resolve) => setTimeout(resolve, timeoutMs));
      this.counters.timeouts++;
      throw new RequestTimeoutError(peerId, type, timeoutMs);
    }
    target.counters.requestsReceived++;
    try {
      const reply = await target.requestHandler(JSON.parse(JSON.stringify(envelope)) as Envelope);
      return { ...target.envelope(reply.type, 0, JSON.parse(JSON.stringify(reply.body ?? null)) as unknown) };
    } catch (error) {
      throw new RemoteHandlerError(peerId, type, parseErrorBody({ code: codeOf(error), message: describeError(error) }));
    }
  }

  onBroadcast(handler: BroadcastHandler): void {
    this.broadcastHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onGap(_handler: GapHandler): void {
    // Memory links never lose a broadcast unless cut, and then everything is lost.
  }

  onDisconnect(_handler: DisconnectHandler): void {
    // Memory links have no connection to lose.
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
    if (this.closed || !this.links.has(envelope.from)) return;
    this.counters.received++;
    this.broadcastHandler?.(envelope);
  }
}
