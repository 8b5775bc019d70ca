import type { Envelope, NodeAddresses } from '../../src/transport/envelope';
import { RequestTimeoutError } from '../../src/transport/errors';
import type { BroadcastHandler, DisconnectHandler, GapHandler, RequestHandler, RequestSigner, Transport, TransportStats } from '../../src/transport/transport';

/**
 * Wraps a real transport and loses messages on purpose: a node made silent
 * (nothing it sends leaves), or links cut both ways (a partition). What it
 * does not cut goes through the real sockets untouched.
 */
export class FaultyTransport implements Transport {
  /** Nothing this node sends leaves it. */
  silent = false;
  /** Peers whose messages are lost, both ways. */
  readonly cut = new Set<string>();
  /** Closed connections go unnoticed (as when a peer restarts before this node sees its connections drop). */
  deafToDisconnects = false;

  constructor(private readonly inner: Transport) {}

  get nodeId(): string {
    return this.inner.nodeId;
  }

  bind(): Promise<NodeAddresses> {
    return this.inner.bind();
  }

  setIncarnation(incarnation: number): void {
    this.inner.setIncarnation(incarnation);
  }

  connect(peerId: string, addresses: NodeAddresses): void {
    this.inner.connect(peerId, addresses);
  }

  disconnect(peerId: string): void {
    this.inner.disconnect(peerId);
  }

  peers(): string[] {
    return this.inner.peers();
  }

  publish(type: string, body: unknown): Promise<void> {
    return this.silent ? Promise.resolve() : this.inner.publish(type, body);
  }

  publishTo(peerIds: readonly string[], type: string, body: unknown): Promise<void> {
    return this.silent ? Promise.resolve() : this.inner.publishTo(peerIds, type, body);
  }

  holdBroadcasts(peerId: string, until: Promise<void>): void {
    this.inner.holdBroadcasts(peerId, until);
  }

  holding(peerId: string): boolean {
    return this.inner.holding(peerId);
  }

  async request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    if (this.silent || this.cut.has(peerId)) {
      await new Promise((resolve) => setTimeout(resolve, timeoutMs));
      throw new RequestTimeoutError(peerId, type, timeoutMs);
    }
    return this.inner.request(peerId, type, body, timeoutMs);
  }

  onBroadcast(handler: BroadcastHandler): void {
    this.inner.onBroadcast((envelope) => {
      if (!this.cut.has(envelope.from)) handler(envelope);
    });
  }

  onRequest(handler: RequestHandler): void {
    this.inner.onRequest((envelope) => {
      // A request from across the cut never arrives: its sender times out.
      if (this.cut.has(envelope.from) || this.silent) return new Promise(() => undefined);
      return handler(envelope);
    });
  }

  onGap(handler: GapHandler): void {
    this.inner.onGap(handler);
  }

  onDisconnect(handler: DisconnectHandler): void {
    this.inner.onDisconnect((peerId) => {
      if (!this.deafToDisconnects) handler(peerId);
    });
  }

  stats(): TransportStats {
    return this.inner.stats();
  }

  published(): number {
    return this.inner.published();
  }

  setSigner(signer: RequestSigner): void {
    this.inner.setSigner(signer);
  }

  countTypes(known: (type: string) => boolean): void {
    this.inner.countTypes(known);
  }

  close(options?: { flushMs?: number }): Promise<void> {
    return this.inner.close(options);
  }
}
