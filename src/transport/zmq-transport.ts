import createDebug from 'debug';
import { v4 as uuidv4 } from 'uuid';
import { Dealer, Publisher, Router, Subscriber } from 'zeromq';
import type { LogLevel } from '../log';

import { decodeEnvelope, encodeEnvelope } from './codec';
import { PROTOCOL_VERSION, type Envelope, type NodeAddresses } from './envelope';
import { PeerNotConnectedError, RequestTimeoutError, SendTimeoutError, TransportClosedError } from './errors';
import { PendingRequests } from './pending-requests';
import { replyFrame } from './reply-frame';
import { closeQuietly, receiveLoop, type ReceiveLoopContext } from './receive-loop';
import { describeError } from '../util/describe-error';
import { SendQueue } from './send-queue';
import {
  DEFAULT_HIGH_WATER_MARK,
  advertisedEndpoint,
  dealerOptions,
  endpointOf,
  highWaterMarks,
  pubOptions,
  routerOptions,
  subOptions,
} from './socket-options';
import type { BroadcastHandler, RequestHandler, Transport, TransportStats } from './transport';
import { isId, validateOptions, type ZmqTransportOptions } from './zmq-transport-options';

// Re-exported so that this module keeps its public API: callers import the
// transport, its options and its defaults from here.
export { DEFAULT_HIGH_WATER_MARK };
export type { BindEndpoint, ZmqTransportOptions } from './zmq-transport-options';

const debugLog = createDebug('kuzzle-plugin-cluster:transport');

interface Peer {
  readonly id: string;
  readonly addresses: NodeAddresses;
  readonly dealer: Dealer;
  readonly queue: SendQueue;
  readonly loop: Promise<void>;
}

/**
 * {@link Transport} over ZeroMQ: a ROUTER answers requests and a PUB carries
 * broadcasts; one SUB is connected to every peer's PUB and one DEALER per
 * peer to its ROUTER. Frames are single JSON envelopes (see codec.ts); a frame
 * that does not decode is counted in `stats().malformed` and dropped.
 * `stats().received` counts broadcasts delivered from connected peers.
 */
export class ZmqTransport implements Transport {
  readonly nodeId: string;

  private readonly options: ZmqTransportOptions;
  private readonly router: Router;
  private readonly pub: Publisher;
  private readonly sub: Subscriber;
  private readonly routerQueue: SendQueue;
  private readonly pubQueue: SendQueue;
  private readonly peersById = new Map<string, Peer>();
  private readonly pending = new PendingRequests();
  private readonly loops: Promise<void>[] = [];
  // `timeouts` is counted by `pending`, where requests time out.
  private readonly counters: Omit<TransportStats, 'timeouts'> = {
    published: 0,
    received: 0,
    requestsSent: 0,
    requestsReceived: 0,
    malformed: 0,
  };
  private broadcastHandler: BroadcastHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private seq = 0;
  private subLoopStarted = false;
  private closed = false;
  private binding: Promise<NodeAddresses> | undefined;
  private closing: Promise<void> | undefined;
  private readonly loopContext: ReceiveLoopContext = {
    log: (level, message) => this.log(level, message),
    isClosed: () => this.closed,
  };

  /** @throws Error on an invalid node id, port, or a wildcard bind host without `advertisedHost`. */
  constructor(options: ZmqTransportOptions) {
    validateOptions(options);
    this.options = options;
    this.nodeId = options.nodeId;
    this.router = new Router(routerOptions(options.router.host, highWaterMarks(options)));
    this.pub = new Publisher(pubOptions(options.pub.host, highWaterMarks(options)));
    this.sub = new Subscriber(subOptions(highWaterMarks(options)));
    this.sub.subscribe();
    // Neither ROUTER (non-mandatory) nor PUB ever block a send: the queues
    // only keep zeromq from seeing two sends at once.
    this.routerQueue = new SendQueue(this.router);
    this.pubQueue = new SendQueue(this.pub);
  }

  /**
   * Binds the ROUTER and PUB sockets and resolves with the addresses peers
   * must connect to (real ports when 0 was asked). Calling it again returns
   * the same result.
   */
  bind(): Promise<NodeAddresses> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    this.binding ??= this.doBind();
    return this.binding;
  }

  /**
   * Subscribes to the peer's broadcasts and opens a DEALER to its ROUTER.
   * Connecting again with the same addresses does nothing; with other
   * addresses the old connection is dropped first (its pending requests
   * fail with {@link PeerNotConnectedError}).
   *
   * Broadcasts are only delivered from connected peers, so `peerId` must be
   * the peer's node id (the `from` of its envelopes).
   *
   * @throws TransportClosedError after {@link close}; Error on an invalid
   * peer id, on the own node id, or on an endpoint zeromq rejects.
   */
  connect(peerId: string, addresses: NodeAddresses): void {
    if (this.closed) throw new TransportClosedError();
    if (!isId(peerId)) throw new Error(`invalid peer id "${peerId}"`);
    if (peerId === this.nodeId) throw new Error('a node cannot connect to itself');
    const existing = this.peersById.get(peerId);
    if (existing) {
      if (existing.addresses.router === addresses.router && existing.addresses.pub === addresses.pub) return;
      this.log('info', `peer ${peerId} moved to ${addresses.router} / ${addresses.pub}, reconnecting`);
      this.dropPeer(existing, new PeerNotConnectedError(peerId, 'reconnected to new addresses'));
    }

    const dealer = new Dealer(dealerOptions(highWaterMarks(this.options)));
    try {
      dealer.connect(addresses.router);
      this.sub.connect(addresses.pub);
    } catch (error) {
      dealer.close();
      throw error;
    }
    this.ensureSubLoop();
    const addressesCopy = { router: addresses.router, pub: addresses.pub };
    this.peersById.set(peerId, {
      id: peerId,
      addresses: addressesCopy,
      dealer,
      queue: new SendQueue(dealer),
      loop: this.dealerLoop(peerId, dealer),
    });
    this.log('debug', `connected to peer ${peerId} (${addresses.router}, ${addresses.pub})`);
  }

  /** Drops a peer: unsubscribes from it, closes its DEALER and fails its pending requests. Idempotent. */
  disconnect(peerId: string): void {
    const peer = this.peersById.get(peerId);
    if (peer) this.dropPeer(peer, new PeerNotConnectedError(peerId, 'was disconnected'));
  }

  /** Ids of the connected peers. */
  peers(): string[] {
    return [...this.peersById.keys()];
  }

  /**
   * Broadcasts to every subscribed peer with the next sequence number.
   * Resolves once zeromq queued the frame; a slow peer past the high water
   * mark misses it (PUB semantics), which receivers see as a `seq` gap.
   */
  async publish(type: string, body: unknown): Promise<void> {
    if (this.closed) throw new TransportClosedError();
    const frame = encodeEnvelope({ v: PROTOCOL_VERSION, type, from: this.nodeId, seq: this.seq + 1, body });
    // The sequence only advances for frames that will actually be sent, so a
    // body that fails to encode does not look like a lost broadcast.
    this.seq += 1;
    await this.pubQueue.enqueue([frame]);
    this.counters.published += 1;
  }

  /**
   * Sends a request to a peer and resolves with its reply envelope.
   *
   * @throws PeerNotConnectedError when the peer is unknown or gets
   * disconnected meanwhile; RequestTimeoutError when no reply came within
   * `timeoutMs` (including when the peer is down and the request could not
   * even be sent); RemoteHandlerError when the peer's handler failed;
   * TransportClosedError when the transport is or gets closed.
   */
  request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      return Promise.reject(new RangeError(`invalid request timeout ${timeoutMs}`));
    }
    const peer = this.peersById.get(peerId);
    if (!peer) return Promise.reject(new PeerNotConnectedError(peerId));
    const rid = uuidv4();
    let frame: Buffer;
    try {
      frame = encodeEnvelope({ v: PROTOCOL_VERSION, type, from: this.nodeId, seq: 0, rid, body });
    } catch (error) {
      return Promise.reject(error);
    }

    const { reply, signal } = this.pending.track(rid, peerId, type, timeoutMs);
    this.counters.requestsSent += 1;
    peer.queue.enqueue([frame], { signal, deadline: Date.now() + timeoutMs }).catch((error: unknown) => {
      this.pending.fail(
        rid,
        error instanceof SendTimeoutError
          ? new RequestTimeoutError(peerId, type, timeoutMs, error)
          : error instanceof Error
            ? error
            : new Error(String(error)),
      );
    });
    return reply;
  }

  /** Sets the broadcast handler (replaces any previous one). A handler that throws is logged, not fatal. */
  onBroadcast(handler: BroadcastHandler): void {
    this.broadcastHandler = handler;
  }

  /**
   * Sets the request handler (replaces any previous one). Requests are
   * handled concurrently; a handler failure, or no handler at all, is
   * answered with an error reply.
   */
  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /** A copy of the counters. */
  stats(): TransportStats {
    return { ...this.counters, timeouts: this.pending.timeouts };
  }

  /**
   * Closes every socket (linger 0: unsent frames are dropped), ends the
   * receive loops and rejects pending requests and sends with
   * {@link TransportClosedError}. Idempotent: later calls return the same promise.
   * `flushMs` lets the broadcasts already queued (a leave announcement) go out
   * for that long after the sockets are closed.
   */
  close(options: { flushMs?: number } = {}): Promise<void> {
    this.closing ??= this.doClose(options.flushMs ?? 0);
    return this.closing;
  }

  private async doBind(): Promise<NodeAddresses> {
    const { router, pub } = this.options;
    await this.router.bind(endpointOf(router.host, router.port));
    await this.pub.bind(endpointOf(pub.host, pub.port));
    if (this.closed) throw new TransportClosedError('transport closed while binding');
    const addresses = {
      router: advertisedEndpoint(this.router.lastEndpoint, this.options.advertisedHost ?? router.host),
      pub: advertisedEndpoint(this.pub.lastEndpoint, this.options.advertisedHost ?? pub.host),
    };
    this.loops.push(this.routerLoop());
    this.ensureSubLoop();
    this.log('info', `bound ROUTER ${this.router.lastEndpoint} and PUB ${this.pub.lastEndpoint}`);
    return addresses;
  }

  private async doClose(flushMs: number): Promise<void> {
    this.closed = true;
    const error = new TransportClosedError();
    this.pending.failAll(error);
    this.routerQueue.close(error);
    this.pubQueue.close(error);
    const loops = [...this.loops];
    for (const peer of this.peersById.values()) {
      peer.queue.close(error);
      closeQuietly(peer.dealer);
      loops.push(peer.loop);
    }
    this.peersById.clear();
    // zeromq forbids touching a socket while it binds: let bind() settle first.
    await this.binding?.catch(() => undefined);
    closeQuietly(this.router);
    if (flushMs > 0) this.pub.linger = flushMs;
    closeQuietly(this.pub);
    closeQuietly(this.sub);
    await Promise.allSettled(loops);
    this.log('info', 'closed');
  }

  private dropPeer(peer: Peer, error: Error): void {
    this.peersById.delete(peer.id);
    try {
      this.sub.disconnect(peer.addresses.pub);
    } catch (disconnectError) {
      this.log('warn', `cannot unsubscribe from ${peer.addresses.pub}: ${describeError(disconnectError)}`);
    }
    peer.queue.close(error);
    closeQuietly(peer.dealer);
    this.pending.failPeer(peer.id, error);
    this.log('debug', `disconnected from peer ${peer.id}`);
  }

  private ensureSubLoop(): void {
    if (this.subLoopStarted) return;
    this.subLoopStarted = true;
    this.loops.push(this.subLoop());
  }

  private async subLoop(): Promise<void> {
    await receiveLoop('SUB', this.sub, (frames) => {
      const envelope = frames.length === 1 ? decodeEnvelope(frames[0]) : undefined;
      if (!envelope) return this.malformed('SUB', frames);
      // SUB disconnects asynchronously: frames of a dropped peer may still trickle in.
      if (!this.peersById.has(envelope.from)) {
        this.log('debug', `dropped broadcast "${envelope.type}" from unconnected node ${envelope.from}`);
        return;
      }
      this.counters.received += 1;
      const handler = this.broadcastHandler;
      if (!handler) return;
      try {
        const result: unknown = handler(envelope);
        if (result instanceof Promise) {
          result.catch((error: unknown) => this.handlerFailed('broadcast', envelope, error));
        }
      } catch (error) {
        this.handlerFailed('broadcast', envelope, error);
      }
    }, this.loopContext);
  }

  private async routerLoop(): Promise<void> {
    await receiveLoop('ROUTER', this.router, (frames) => {
      const envelope = frames.length === 2 ? decodeEnvelope(frames[1]) : undefined;
      if (!envelope || envelope.rid === undefined) return this.malformed('ROUTER', frames);
      this.counters.requestsReceived += 1;
      void this.answer(frames[0], envelope, envelope.rid);
    }, this.loopContext);
  }

  private async dealerLoop(peerId: string, dealer: Dealer): Promise<void> {
    await receiveLoop(`DEALER(${peerId})`, dealer, (frames) => {
      const reply = frames.length === 1 ? decodeEnvelope(frames[0]) : undefined;
      if (!reply || reply.re === undefined) return this.malformed(`DEALER(${peerId})`, frames);
      if (!this.pending.settle(peerId, reply.re, reply)) {
        this.log('debug', `dropped late or unknown reply ${reply.re} from ${peerId}`);
      }
    }, this.loopContext);
  }

  private async answer(identity: Buffer, request: Envelope, rid: string): Promise<void> {
    const frame = await replyFrame(this.nodeId, this.requestHandler, request, rid, (error) =>
      this.handlerFailed('request', request, error),
    );
    if (this.closed) return;
    try {
      await this.routerQueue.enqueue([identity, frame]);
    } catch (error) {
      if (!this.closed) this.log('warn', `cannot reply to "${request.type}" from ${request.from}: ${describeError(error)}`);
    }
  }

  private malformed(where: string, frames: Buffer[]): void {
    this.counters.malformed += 1;
    const size = frames.reduce((total, frame) => total + frame.length, 0);
    this.log('debug', `dropped malformed message on ${where} (${frames.length} frames, ${size} bytes)`);
  }

  private handlerFailed(kind: 'broadcast' | 'request', envelope: Envelope, error: unknown): void {
    this.log('warn', `${kind} handler failed on "${envelope.type}" from ${envelope.from}: ${describeError(error)}`);
  }

  private log(level: LogLevel, message: string): void {
    const line = `[${this.nodeId}] ${message}`;
    if (this.options.log) this.options.log(level, line);
    else debugLog(`${level}: ${line}`);
  }
}
