import createDebug from 'debug';
import { v4 as uuidv4 } from 'uuid';
import { Dealer, Publisher, Router, Subscriber, type SocketOptions } from 'zeromq';
import type { Log, LogLevel } from '../log';

import { MAX_FRAME_BYTES, MAX_ID_LENGTH, decodeEnvelope, encodeEnvelope } from './codec';
import { PROTOCOL_VERSION, type Envelope, type NodeAddresses } from './envelope';
import {
  PeerNotConnectedError,
  RemoteHandlerError,
  RequestTimeoutError,
  SendTimeoutError,
  TransportClosedError,
} from './errors';
import { SendQueue } from './send-queue';
import type { BroadcastHandler, RequestHandler, Transport, TransportStats } from './transport';

const debugLog = createDebug('kuzzle-plugin-cluster:transport');


/** Where a socket binds. `host` is an IP literal (IPv6 with or without brackets), `*`, `0.0.0.0` or `::`. */
export interface BindEndpoint {
  host: string;
  /** 0 binds a free port (tests); the real one is then read back from the socket. */
  port: number;
}

/** Options of {@link ZmqTransport}. */
export interface ZmqTransportOptions {
  nodeId: string;
  router: BindEndpoint;
  pub: BindEndpoint;
  /**
   * Host written into the {@link NodeAddresses} peers connect to. Defaults to
   * the bind host; required when that is a wildcard (0.0.0.0, ::, *), since
   * peers cannot connect to a wildcard.
   */
  advertisedHost?: string;
  /**
   * ZMQ_SNDHWM of every socket, in messages per peer; default
   * {@link DEFAULT_HIGH_WATER_MARK}. zeromq's own default (1000) would drop
   * broadcasts on a burst (PUB drops silently past it), and a cluster would
   * rather spend memory than miss a state change; 0 means unlimited.
   */
  sendHighWaterMark?: number;
  /** ZMQ_RCVHWM of every socket; defaults to `sendHighWaterMark`. */
  receiveHighWaterMark?: number;
  /** Log sink; messages are prefixed with the node id. Defaults to the `debug` package. */
  log?: Log;
  // CURVE encryption hook (not implemented yet): add e.g.
  // `curve?: { publicKey: string; secretKey: string; serverKey: string }` and
  // apply it in routerOptions()/pubOptions() (curveServer, curveSecretKey)
  // and subOptions()/dealerOptions() (curveServerKey, curvePublicKey,
  // curveSecretKey). The single SUB connects to every peer
  // with one curveServerKey, so this implies a cluster-wide server keypair, or
  // one SUB per peer.
}

/** Default high water mark, see {@link ZmqTransportOptions.sendHighWaterMark}. */
export const DEFAULT_HIGH_WATER_MARK = 100_000;

interface Peer {
  readonly id: string;
  readonly addresses: NodeAddresses;
  readonly dealer: Dealer;
  readonly queue: SendQueue;
  readonly loop: Promise<void>;
}

interface PendingRequest {
  readonly peerId: string;
  readonly type: string;
  readonly resolve: (reply: Envelope) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly abort: AbortController;
}

const WILDCARD_HOSTS = new Set(['*', '0.0.0.0', '::']);

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
  private readonly pending = new Map<string, PendingRequest>();
  private readonly loops: Promise<void>[] = [];
  private readonly counters: TransportStats = {
    published: 0,
    received: 0,
    requestsSent: 0,
    requestsReceived: 0,
    malformed: 0,
    timeouts: 0,
  };
  private broadcastHandler: BroadcastHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private seq = 0;
  private subLoopStarted = false;
  private closed = false;
  private binding: Promise<NodeAddresses> | undefined;
  private closing: Promise<void> | undefined;

  /** @throws Error on an invalid node id, port, or a wildcard bind host without `advertisedHost`. */
  constructor(options: ZmqTransportOptions) {
    if (!isId(options.nodeId)) throw new Error(`invalid node id "${options.nodeId}"`);
    for (const [name, endpoint] of [['router', options.router], ['pub', options.pub]] as const) {
      if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
        throw new Error(`invalid ${name} port ${endpoint.port}`);
      }
      if (isWildcard(endpoint.host) && options.advertisedHost === undefined) {
        throw new Error(`${name} binds to wildcard host "${endpoint.host}": advertisedHost is required`);
      }
    }
    this.options = options;
    this.nodeId = options.nodeId;
    this.router = new Router(this.routerOptions());
    this.pub = new Publisher(this.pubOptions());
    this.sub = new Subscriber(this.subOptions());
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

    const dealer = new Dealer(this.dealerOptions());
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

    return new Promise<Envelope>((resolve, reject) => {
      const abort = new AbortController();
      const timer = setTimeout(() => this.failRequest(rid, new RequestTimeoutError(peerId, type, timeoutMs)), timeoutMs);
      this.pending.set(rid, { peerId, type, resolve, reject, timer, abort });
      this.counters.requestsSent += 1;
      peer.queue.enqueue([frame], { signal: abort.signal, deadline: Date.now() + timeoutMs }).catch((error: unknown) => {
        this.failRequest(
          rid,
          error instanceof SendTimeoutError
            ? new RequestTimeoutError(peerId, type, timeoutMs, error)
            : error instanceof Error
              ? error
              : new Error(String(error)),
        );
      });
    });
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
    return { ...this.counters };
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
      router: this.advertise(this.router.lastEndpoint, router.host),
      pub: this.advertise(this.pub.lastEndpoint, pub.host),
    };
    this.loops.push(this.routerLoop());
    this.ensureSubLoop();
    this.log('info', `bound ROUTER ${this.router.lastEndpoint} and PUB ${this.pub.lastEndpoint}`);
    return addresses;
  }

  private async doClose(flushMs: number): Promise<void> {
    this.closed = true;
    const error = new TransportClosedError();
    for (const rid of [...this.pending.keys()]) this.failRequest(rid, error);
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
      this.log('warn', `cannot unsubscribe from ${peer.addresses.pub}: ${describe(disconnectError)}`);
    }
    peer.queue.close(error);
    closeQuietly(peer.dealer);
    for (const [rid, request] of [...this.pending]) {
      if (request.peerId === peer.id) this.failRequest(rid, error);
    }
    this.log('debug', `disconnected from peer ${peer.id}`);
  }

  private failRequest(rid: string, error: Error): void {
    const request = this.pending.get(rid);
    if (!request) return;
    this.pending.delete(rid);
    clearTimeout(request.timer);
    // A request still waiting in the send queue is skipped: nobody awaits its reply.
    request.abort.abort(error);
    if (error instanceof RequestTimeoutError) this.counters.timeouts += 1;
    request.reject(error);
  }

  private ensureSubLoop(): void {
    if (this.subLoopStarted) return;
    this.subLoopStarted = true;
    this.loops.push(this.subLoop());
  }

  private async subLoop(): Promise<void> {
    await this.receiveLoop('SUB', this.sub, (frames) => {
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
    });
  }

  private async routerLoop(): Promise<void> {
    await this.receiveLoop('ROUTER', this.router, (frames) => {
      const envelope = frames.length === 2 ? decodeEnvelope(frames[1]) : undefined;
      if (!envelope || envelope.rid === undefined) return this.malformed('ROUTER', frames);
      this.counters.requestsReceived += 1;
      void this.answer(frames[0], envelope, envelope.rid);
    });
  }

  private async dealerLoop(peerId: string, dealer: Dealer): Promise<void> {
    await this.receiveLoop(`DEALER(${peerId})`, dealer, (frames) => {
      const reply = frames.length === 1 ? decodeEnvelope(frames[0]) : undefined;
      if (!reply || reply.re === undefined) return this.malformed(`DEALER(${peerId})`, frames);
      const request = this.pending.get(reply.re);
      if (!request || request.peerId !== peerId) {
        this.log('debug', `dropped late or unknown reply ${reply.re} from ${peerId}`);
        return;
      }
      this.pending.delete(reply.re);
      clearTimeout(request.timer);
      if (reply.error === true) request.reject(new RemoteHandlerError(peerId, request.type, reply));
      else request.resolve(reply);
    });
  }

  /** Runs `onFrames` for every message until the socket closes; nothing it throws ends the loop. */
  private async receiveLoop(
    name: string,
    socket: AsyncIterable<Buffer[]> & { readonly closed: boolean },
    onFrames: (frames: Buffer[]) => void,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        try {
          onFrames(frames);
        } catch (error) {
          this.log('error', `${name} receive loop: unexpected error: ${describe(error)}`);
        }
      }
    } catch (error) {
      if (!this.closed && !socket.closed) this.log('error', `${name} receive loop ended: ${describe(error)}`);
    }
  }

  private async answer(identity: Buffer, request: Envelope, rid: string): Promise<void> {
    let frame: Buffer;
    try {
      const handler = this.requestHandler;
      if (!handler) throw new Error(`node ${this.nodeId} has no request handler`);
      const reply = await handler(request);
      if (!isId(reply.type)) throw new Error(`handler returned an invalid reply type "${String(reply.type)}"`);
      frame = encodeEnvelope({ v: PROTOCOL_VERSION, type: reply.type, from: this.nodeId, seq: 0, re: rid, body: reply.body });
    } catch (error) {
      this.handlerFailed('request', request, error);
      frame = encodeEnvelope({
        v: PROTOCOL_VERSION,
        type: request.type,
        from: this.nodeId,
        seq: 0,
        re: rid,
        error: true,
        body: { message: describe(error) },
      });
    }
    if (this.closed) return;
    try {
      await this.routerQueue.enqueue([identity, frame]);
    } catch (error) {
      if (!this.closed) this.log('warn', `cannot reply to "${request.type}" from ${request.from}: ${describe(error)}`);
    }
  }

  private malformed(where: string, frames: Buffer[]): void {
    this.counters.malformed += 1;
    const size = frames.reduce((total, frame) => total + frame.length, 0);
    this.log('debug', `dropped malformed message on ${where} (${frames.length} frames, ${size} bytes)`);
  }

  private handlerFailed(kind: 'broadcast' | 'request', envelope: Envelope, error: unknown): void {
    this.log('warn', `${kind} handler failed on "${envelope.type}" from ${envelope.from}: ${describe(error)}`);
  }

  private advertise(lastEndpoint: string | null, bindHost: string): string {
    const port = lastEndpoint ? /:(\d+)$/.exec(lastEndpoint)?.[1] : undefined;
    if (port === undefined) throw new Error(`cannot read the bound port from endpoint "${lastEndpoint}"`);
    return endpointOf(this.options.advertisedHost ?? bindHost, Number(port));
  }

  // Socket options are set here only, before any bind/connect as zeromq
  // requires; the CURVE hook (see ZmqTransportOptions) belongs here too.
  private routerOptions(): SocketOptions<Router> {
    return {
      linger: 0,
      ipv6: isIpv6Host(this.options.router.host),
      mandatory: false,
      sendHighWaterMark: this.sendHighWaterMark(),
      receiveHighWaterMark: this.receiveHighWaterMark(),
      maxMessageSize: MAX_FRAME_BYTES,
    };
  }

  private pubOptions(): SocketOptions<Publisher> {
    return { linger: 0, ipv6: isIpv6Host(this.options.pub.host), sendHighWaterMark: this.sendHighWaterMark() };
  }

  // Connecting sockets get ipv6 so that they reach IPv4 and IPv6 peers alike.
  private subOptions(): SocketOptions<Subscriber> {
    return { linger: 0, ipv6: true, receiveHighWaterMark: this.receiveHighWaterMark(), maxMessageSize: MAX_FRAME_BYTES };
  }

  private dealerOptions(): SocketOptions<Dealer> {
    return {
      linger: 0,
      ipv6: true,
      // Queue requests only on a completed connection: a peer that is down
      // makes send() wait (bounded by each request's deadline) instead of
      // piling stale requests up for whenever it comes back.
      immediate: true,
      sendHighWaterMark: this.sendHighWaterMark(),
      receiveHighWaterMark: this.receiveHighWaterMark(),
      maxMessageSize: MAX_FRAME_BYTES,
    };
  }

  private sendHighWaterMark(): number {
    return this.options.sendHighWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  }

  private receiveHighWaterMark(): number {
    return this.options.receiveHighWaterMark ?? this.sendHighWaterMark();
  }

  private log(level: LogLevel, message: string): void {
    const line = `[${this.nodeId}] ${message}`;
    if (this.options.log) this.options.log(level, line);
    else debugLog(`${level}: ${line}`);
  }
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function isIpv6Host(host: string): boolean {
  return stripBrackets(host).includes(':');
}

function isWildcard(host: string): boolean {
  return WILDCARD_HOSTS.has(stripBrackets(host));
}

/** `tcp://host:port`, with IPv6 hosts in brackets as zeromq expects. */
function endpointOf(host: string, port: number): string {
  const bare = stripBrackets(host);
  return `tcp://${bare.includes(':') ? `[${bare}]` : bare}:${port === 0 ? '*' : port}`;
}

function closeQuietly(socket: { close(): void }): void {
  try {
    socket.close();
  } catch {
    // Already closed or being torn down: nothing left to release.
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
