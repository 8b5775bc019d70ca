import { Dealer, Subscriber } from 'zeromq';
import { subscriptionsOf } from './addressing';
import type { NodeAddresses } from './envelope';
import { closeQuietly } from './receive-loop';
import { SendQueue } from './send-queue';
import type { CurveKeys } from './curve-keys';
import { curveClientOptions, dealerOptions, endpointOf, subOptions, type SocketLimits } from './socket-options';

/** ZeroMQ's `tcp://source:0;host:port` form, which fixes the local address of a connection. */
function withSource(endpoint: string, sourceHost: string | undefined): string {
  if (sourceHost === undefined) return endpoint;
  return `${endpointOf(sourceHost, 0).replace(/\*$/, '0')};${endpoint.replace(/^tcp:\/\//, '')}`;
}

/** Where a message's sequence number stands against the last one received on its stream. */
export type SeqVerdict = { kind: 'next' } | { kind: 'gap'; expected: number } | { kind: 'replayed' };

/**
 * One numbered stream of a peer (its broadcasts, or what it addressed to
 * this node). The first number heard sets the baseline (what was sent
 * before the link existed is the join's business); a number not above the
 * last one is a replay.
 */
export class SequenceCheck {
  /** Messages missed since the link was opened. */
  missed = 0;
  private last: number | undefined;

  /** Checks a message's number and records it. */
  check(seq: number): SeqVerdict {
    const last = this.last;
    if (last !== undefined && seq <= last) return { kind: 'replayed' };
    this.last = seq;
    if (last === undefined || seq === last + 1) return { kind: 'next' };
    this.missed += seq - last - 1;
    return { kind: 'gap', expected: last + 1 };
  }
}

/**
 * The sockets bound to one peer: a SUB on its PUB (so its broadcasts are
 * attributed to it, and disconnecting it never touches another peer's
 * connection) and a DEALER on its ROUTER, with the peer's two sequences:
 * its broadcasts, and what it addressed to this node (addressing.ts).
 */
export class PeerLink {
  readonly dealer: Dealer;
  readonly sub: Subscriber;
  readonly queue: SendQueue;
  readonly loops: Promise<void>[] = [];
  readonly broadcasts = new SequenceCheck();
  readonly addressed = new SequenceCheck();
  /** Called once the link closes: a receive loop waiting on a hold must end then. */
  private readonly onClose = new Set<() => void>();

  /** @throws Error when zeromq refuses an endpoint (the sockets are closed first). */
  constructor(
    readonly peerId: string,
    readonly addresses: NodeAddresses,
    nodeId: string,
    limits: SocketLimits,
    /** Local address outgoing connections leave from; undefined lets the OS choose. */
    sourceHost?: string,
    curve?: CurveKeys,
  ) {
    const security = curveClientOptions(curve, addresses.curveKey);
    this.dealer = new Dealer({ ...dealerOptions(nodeId, limits), ...security });
    this.sub = new Subscriber({ ...subOptions(limits), ...security });
    try {
      this.sub.subscribe(...subscriptionsOf(nodeId));
      this.dealer.connect(withSource(addresses.router, sourceHost));
      this.sub.connect(withSource(addresses.pub, sourceHost));
    } catch (error) {
      closeQuietly(this.dealer);
      closeQuietly(this.sub);
      throw error;
    }
    this.queue = new SendQueue(this.dealer);
  }

  /** Messages of the peer missed since this link was opened, on both streams. */
  get missed(): number {
    return this.broadcasts.missed + this.addressed.missed;
  }

  sameAddresses(addresses: NodeAddresses): boolean {
    return this.addresses.router === addresses.router && this.addresses.pub === addresses.pub && this.addresses.curveKey === addresses.curveKey;
  }

  /** Calls `wake` when the link closes, unless cancelled by the function returned first. */
  whenClosed(wake: () => void): () => void {
    this.onClose.add(wake);
    return () => this.onClose.delete(wake);
  }

  close(error?: Error): void {
    for (const wake of this.onClose) wake();
    this.onClose.clear();
    this.queue.close(error);
    closeQuietly(this.dealer);
    closeQuietly(this.sub);
  }
}
