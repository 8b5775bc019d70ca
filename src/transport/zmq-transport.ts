import { v4 as uuidv4 } from 'uuid';
import createDebug from 'debug';
import { Publisher, Router } from 'zeromq';
import { describeError } from '../util/describe-error';
import type { LogLevel } from '../util/log';
import { AddressedSequences, seqOfTopic, topicFrame, topicPrefixOf } from './addressing';
import { AddressedMarks, MARK_INTERVAL_MS, MARK_TYPE } from './addressed-marks';
import { isId } from './codec';
import { FrameReader } from './frame-reader';
import { PARTIAL_MAX_AGE_MS } from './fragments';
import { FrameWriter } from './frame-writer';
import { HandshakeCounts, zapDomainOf } from './handshake-counts';
import type { Envelope, NodeAddresses } from './envelope';
import { PeerNotConnectedError, RequestTimeoutError, SendTimeoutError, TransportClosedError } from './errors';
import { PeerLink } from './peer-link';
import { PendingRequests } from './pending-requests';
import { PeerHolds } from './peer-holds';
import { closeQuietly, receiveLoop, type ReceiveLoopContext } from './receive-loop';
import { replyFrame } from './reply-frame';
import { MemberRoutes } from './member-routes';
import { nodeIdOfRoutingId } from './routing-ids';
import { SendQueue } from './send-queue';
import { advertisedEndpoint, curveServerOptions, endpointOf, isWildcard, limitsOf, pubOptions, routerOptions, type SocketLimits } from './socket-options';
import { TrafficCounters, type FrameDropReason } from './traffic-counters';
import type { BroadcastHandler, DisconnectHandler, GapHandler, RequestHandler, RequestSigner, Transport, TransportStats } from './transport';
import { validateOptions, type ZmqTransportOptions } from './zmq-transport-options';

const debugLog = createDebug('kuzzle:cluster:transport');


/**
 * {@link Transport} over ZeroMQ: a ROUTER answers requests and a PUB carries
 * broadcasts; each peer gets its own SUB (on its PUB) and DEALER (on its
 * ROUTER), see {@link PeerLink}. Frames are single JSON envelopes (see
 * codec.ts); what the PUB addresses to one peer has a topic frame before
 * it (addressing.ts). A frame is dropped and counted, never handled, when
 * it does not decode, when its `from` is not the peer its socket belongs to
 * (the DEALER's routing id for requests), or when it replays an old
 * sequence number; a sequence gap is reported to the gap handler.
 */
export class ZmqTransport implements Transport {
  readonly nodeId: string;

  private readonly options: ZmqTransportOptions;
  private readonly limits: SocketLimits;
  private readonly router: Router;
  private readonly pub: Publisher;
  private readonly routerQueue: SendQueue;
  private readonly pubQueue: SendQueue;
  private readonly links = new Map<string, PeerLink>();
  private readonly pending = new PendingRequests();
  private readonly loops: Promise<void>[] = [];
  private readonly traffic = new TrafficCounters();
  /** Frames of the links to members (their broadcasts, the replies to this node's requests). */
  private readonly reader: FrameReader;
  /**
   * Frames of the ROUTER, from any connection that passed the handshake,
   * before the request proves its sender: its own fragment budget, so that
   * messages half-sent there never crowd out the members' on their links.
   */
  private readonly routerReader: FrameReader;
  private readonly expiry: NodeJS.Timeout;
  private readonly memberRoutes: MemberRoutes;
  private readonly writer: FrameWriter;
  private readonly handshakes = new HandshakeCounts((level, message) => this.log(level, message));
  private broadcastHandler: BroadcastHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private gapHandler: GapHandler | undefined;
  private disconnectHandler: DisconnectHandler | undefined;
  /**
   * Outgoing connections leave from the address the ROUTER binds (not a
   * wildcard): cluster traffic stays on the interface chosen for it, and
   * firewall rules can name a node by its address.
   */
  private readonly sourceHost: string | undefined;
  private seq = 0;
  private readonly addressedSeqs = new AddressedSequences();
  private readonly marks = new AddressedMarks();
  private readonly markTimer: NodeJS.Timeout;
  private readonly holds = new PeerHolds();
  /** What this node's SUBs subscribed to: the topics addressed to it start with it. */
  private readonly ownTopic: Buffer;
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
    this.limits = limitsOf(options);
    this.writer = new FrameWriter(this.nodeId, this.limits);
    // Only peers this node connected to send on these sockets (a SUB and a
    // DEALER per peer): each keeps a slot of its own, so that several peers
    // sending big messages at once (bulk changes through several nodes), or
    // one leaving them half-sent, never crowd each other out.
    this.reader = new FrameReader(this.limits, this.traffic, (what) => this.drop('malformed', what), 'every sender');
    // A member's connection, known by a request it made that was answered,
    // keeps its own room for fragments.
    this.routerReader = new FrameReader(this.limits, this.traffic, (what) => this.drop('malformed', what), (sender) => this.memberRoutes.isCurrent(sender));
    this.memberRoutes = new MemberRoutes({ routingIdOf: routingIdOfRouterName }, (nodeId) => this.links.has(nodeId), (name) => this.routerReader.forget([name]));
    this.sourceHost = isWildcard(options.router.host) ? undefined : options.router.host;
    this.ownTopic = topicPrefixOf(this.nodeId);
    this.router = new Router({ ...routerOptions(options.router.host, this.limits), ...curveServerOptions(options.curve, zapDomainOf(this.nodeId, 'router')) });
    this.pub = new Publisher({ ...pubOptions(options.pub.host, this.limits), ...curveServerOptions(options.curve, zapDomainOf(this.nodeId, 'pub')) });
    // A connection that fails its handshake (no key, a wrong key) never
    // reaches a receive loop: count it from the sockets' events.
    this.handshakes.watch('router', this.router);
    this.handshakes.watch('pub', this.pub);
    // Neither ROUTER (non-mandatory) nor PUB ever block a send: the queues
    // only keep zeromq from seeing two sends at once.
    this.routerQueue = new SendQueue(this.router);
    this.pubQueue = new SendQueue(this.pub);
    // Half-sent messages also expire on a socket gone quiet (a ROUTER's senders have no link that drops).
    this.expiry = setInterval(() => {
      this.reader.expire();
      this.routerReader.expire();
    }, PARTIAL_MAX_AGE_MS);
    this.expiry.unref();
    this.markTimer = setInterval(() => this.sendMarks(), MARK_INTERVAL_MS);
    this.markTimer.unref();
  }

  /** A mark to each peer addressed lately (see addressed-marks.ts), behind its messages. */
  private sendMarks(): void {
    if (this.closed) return;
    for (const peerId of this.marks.due()) {
      // A peer forgotten since: it would only take a number for nobody.
      if (!this.links.has(peerId)) continue;
      const mark = this.writer.encode({ type: MARK_TYPE, seq: 0, body: null });
      this.pubQueue.enqueue([topicFrame(peerId, this.addressedSeqs.take(peerId)), mark.toString('utf8')]).catch(() => undefined);
      this.traffic.bytes('sent', MARK_TYPE, mark.length);
    }
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

  setIncarnation(incarnation: number): void {
    this.writer.incarnation = incarnation;
  }

  /**
   * Subscribes to the peer's broadcasts and opens a DEALER to its ROUTER.
   * Connecting again with the same addresses does nothing; with other
   * addresses the old link is dropped first (its pending requests fail with
   * {@link PeerNotConnectedError}).
   *
   * @throws TransportClosedError after {@link close}; Error on an invalid
   * peer id, on the own node id, or on an endpoint zeromq rejects.
   */
  connect(peerId: string, addresses: NodeAddresses): void {
    if (this.closed) throw new TransportClosedError();
    if (!isId(peerId)) throw new Error(`invalid peer id "${peerId}"`);
    if (peerId === this.nodeId) throw new Error('a node cannot connect to itself');
    const existing = this.links.get(peerId);
    if (existing) {
      if (existing.sameAddresses(addresses)) return;
      this.log('info', `peer ${peerId} moved to ${addresses.router} / ${addresses.pub}, reconnecting`);
      this.dropLink(existing, new PeerNotConnectedError(peerId, 'reconnected to new addresses'));
    }
    const link = new PeerLink(peerId, { ...addresses }, this.nodeId, this.limits, this.sourceHost, this.options.curve);
    link.loops.push(this.subLoop(link), this.dealerLoop(link));
    // A peer whose process dies closes its connections at once: say so, rather than wait for the heartbeat timeout.
    link.dealer.events.on('disconnect', () => {
      if (this.links.get(peerId) === link && !this.closed) this.disconnectHandler?.(peerId);
    });
    this.links.set(peerId, link);
    this.log('debug', `connected to peer ${peerId} (${addresses.router}, ${addresses.pub})`);
  }

  /** Drops a peer: closes its SUB and DEALER and fails its pending requests. Idempotent. */
  disconnect(peerId: string): void {
    const link = this.links.get(peerId);
    if (link) this.dropLink(link, new PeerNotConnectedError(peerId, 'was disconnected'));
    this.addressedSeqs.forget(peerId);
    this.marks.forget(peerId);
    this.memberRoutes.forget(peerId);
  }

  /** See {@link Transport.holdBroadcasts}: by peer id, a link opened again for it is held too. */
  holdBroadcasts(peerId: string, until: Promise<void>): void {
    this.holds.hold(peerId, until);
  }

  holding(peerId: string): boolean {
    return this.holds.holding(peerId);
  }

  /** Ids of the connected peers. */
  peers(): string[] {
    return [...this.links.keys()];
  }

  /**
   * Broadcasts to every subscribed peer with the next sequence number.
   * Resolves once zeromq queued the frame; a slow peer past the high water
   * mark misses it (PUB semantics), which receivers see as a `seq` gap.
   * A body that cannot be sent throws at once (see {@link Transport.publish}).
   */
  publish(type: string, body: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    const frame = this.writer.encode({ type, seq: this.seq + 1, body });
    // The sequence only advances for frames that will actually be sent, so a
    // body that fails to encode does not look like a lost broadcast.
    this.seq += 1;
    // Fragments are queued in a row, in one turn: nothing gets between them.
    return Promise.all(this.writer.framesOf(frame).map((part) => this.pubQueue.enqueue([part]))).then(() => {
      this.traffic.totals.published += 1;
      this.traffic.bytes('sent', type, frame.length);
    });
  }

  /**
   * Sends a message on the PUB socket to each of `peerIds` alone: encoded
   * once, then one copy per peer behind its topic (addressing.ts), each
   * with that peer's next sequence number. Queued in one turn, so nothing
   * gets between the copies; a peer past the high water mark misses its
   * copy, which it sees as a gap. A body that cannot be sent throws at once.
   */
  publishTo(peerIds: readonly string[], type: string, body: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    if (peerIds.length === 0) return Promise.resolve();
    // No sequence in the envelope: each copy's number is in its topic.
    const frame = this.writer.encode({ type, seq: 0, body });
    const parts = this.writer.framesOf(frame);
    const sends: Promise<void>[] = [];
    for (const peerId of peerIds) {
      const topic = topicFrame(peerId, this.addressedSeqs.take(peerId));
      for (const part of parts) sends.push(this.pubQueue.enqueue([topic, part]));
      this.marks.addressed(peerId);
    }
    return Promise.all(sends).then(() => {
      this.traffic.totals.addressed += peerIds.length;
      this.traffic.bytes('sent', type, frame.length * peerIds.length);
    });
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
    const link = this.links.get(peerId);
    if (!link) return Promise.reject(new PeerNotConnectedError(peerId));
    const rid = uuidv4();
    let frame: Buffer;
    try {
      frame = this.writer.encode({ type, seq: 0, rid, body }, peerId);
    } catch (error) {
      return Promise.reject(error);
    }

    const { reply, cancellation } = this.pending.track(rid, peerId, type, timeoutMs);
    this.traffic.totals.requestsSent += 1;
    this.traffic.bytes('sent', type, frame.length);
    const deadline = Date.now() + timeoutMs;
    Promise.all(this.writer.framesOf(frame).map((part) => link.queue.enqueue([part], { cancellation, deadline }))).catch((error: unknown) => {
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

  onGap(handler: GapHandler): void {
    this.gapHandler = handler;
  }

  onDisconnect(handler: DisconnectHandler): void {
    this.disconnectHandler = handler;
  }

  setSigner(signer: RequestSigner): void {
    this.writer.signer = signer;
  }

  countTypes(known: (type: string) => boolean): void {
    // Marks are this transport's own: a known type, not a made-up one.
    this.traffic.countTypes((type) => type === MARK_TYPE || known(type));
  }

  published(): number {
    return this.traffic.totals.published;
  }

  /** A copy of the counters. */
  stats(): TransportStats {
    const traffic = this.traffic.snapshot();
    return {
      ...traffic,
      timeouts: this.pending.timeouts,
      pendingRequests: this.pending.size,
      dropped: { ...traffic.dropped, unauthenticated: this.handshakes.totalFailed() },
      handshakes: this.handshakes.snapshot(),
    };
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
    const { router, pub, curve } = this.options;
    // Before any socket binds: a handshake with no handler to ask is refused.
    if (curve) await this.handshakes.checkKeys(this.nodeId, curve.accepted);
    await this.router.bind(endpointOf(router.host, router.port));
    await this.pub.bind(endpointOf(pub.host, pub.port));
    if (this.closed) throw new TransportClosedError('transport closed while binding');
    const addresses: NodeAddresses = {
      router: advertisedEndpoint(this.router.lastEndpoint, this.options.advertisedHost ?? router.host),
      pub: advertisedEndpoint(this.pub.lastEndpoint, this.options.advertisedHost ?? pub.host),
    };
    if (curve) addresses.curveKey = curve.publicKey;
    this.loops.push(this.routerLoop());
    this.log('info', `bound ROUTER ${this.router.lastEndpoint} and PUB ${this.pub.lastEndpoint}`);
    return addresses;
  }

  private async doClose(flushMs: number): Promise<void> {
    // Broadcasts already accepted (the last notifications, the leave) go out first.
    if (flushMs > 0) await this.pubQueue.idle(flushMs);
    this.closed = true;
    clearInterval(this.expiry);
    clearInterval(this.markTimer);
    const error = new TransportClosedError();
    this.pending.failAll(error);
    this.routerQueue.close(error);
    this.pubQueue.close(error);
    const loops = [...this.loops];
    for (const link of this.links.values()) {
      link.close(error);
      loops.push(...link.loops);
    }
    this.links.clear();
    // zeromq forbids touching a socket while it binds: let bind() settle first.
    await this.binding?.catch(() => undefined);
    closeQuietly(this.router);
    if (flushMs > 0) this.pub.linger = flushMs;
    closeQuietly(this.pub);
    if (this.options.curve) this.handshakes.stopCheckingKeys(this.nodeId);
    await Promise.allSettled(loops);
    this.log('debug', 'closed');
  }

  private dropLink(link: PeerLink, error: Error): void {
    if (this.links.get(link.peerId) === link) this.links.delete(link.peerId);
    link.close(error);
    // Only what came over this link: the peer's requests to our ROUTER do not depend on it.
    this.reader.forget([subName(link.peerId), dealerName(link.peerId)]);
    this.pending.failPeer(link.peerId, error);
    this.log('debug', `disconnected from peer ${link.peerId}`);
  }

  private async subLoop(link: PeerLink): Promise<void> {
    const name = subName(link.peerId);
    const whenClosed = (wake: () => void): (() => void) => link.whenClosed(wake);
    // A link opened again for a peer still held reads nothing before the hold ends.
    const held = this.holds.until(link.peerId, whenClosed);
    if (held) await held;
    await receiveLoop(name, link.sub, (frames) => {
      // Two frames: a topic, then a message addressed to this node alone.
      const addressed = frames.length === 2;
      const envelope = this.reader.read(frames, addressed ? 2 : 1, addressed ? 1 : 0, name);
      if (!envelope) return;
      if (envelope.from !== link.peerId) return this.drop('foreignSender', `message from ${envelope.from} on ${link.peerId}'s socket`);
      const seq = addressed ? seqOfTopic(frames[0] as Buffer, this.ownTopic) : envelope.seq;
      if (seq === undefined) return this.drop('malformed', `message of ${link.peerId} with a topic that is not this node's`);
      const stream = addressed ? link.addressed : link.broadcasts;
      const verdict = stream.check(seq);
      if (verdict.kind === 'replayed') return this.drop('replayed', `${addressed ? 'addressed message' : 'broadcast'} #${seq} of ${link.peerId}`);
      if (verdict.kind === 'gap') {
        this.traffic.gap(link.peerId, seq - verdict.expected);
        this.gapHandler?.(link.peerId, verdict.expected, seq);
      }
      // A mark has done its work: its number is checked.
      if (addressed && envelope.type === MARK_TYPE) return undefined;
      this.traffic.totals.received += 1;
      this.handle('broadcast', envelope, () => this.broadcastHandler?.(envelope));
      // The bus may have held the peer (too many of its broadcasts in hand).
      return this.holds.until(link.peerId, whenClosed);
    }, this.loopContext);
  }

  private async routerLoop(): Promise<void> {
    await receiveLoop('ROUTER', this.router, (frames) => {
      const identity = frames[0] as Buffer;
      const envelope = this.routerReader.read(frames, 2, 1, routerName(identity.toString('utf8')));
      if (!envelope) return;
      if (envelope.rid === undefined) return this.drop('malformed', `request "${envelope.type}" without a request id`);
      // The DEALER's routing id names its node: a request cannot speak for another node.
      if (nodeIdOfRoutingId(identity.toString('utf8')) !== envelope.from) return this.drop('foreignSender', `request from ${envelope.from} on another node's connection`);
      this.traffic.totals.requestsReceived += 1;
      // Not awaited (requests are answered side by side), so never left to reject unhandled.
      this.answer(identity, envelope, envelope.rid).catch((error: unknown) => this.log('warn', `cannot answer "${envelope.type}" from ${envelope.from}: ${describeError(error)}`));
    }, this.loopContext);
  }

  private async dealerLoop(link: PeerLink): Promise<void> {
    const name = dealerName(link.peerId);
    await receiveLoop(name, link.dealer, (frames) => {
      const reply = this.reader.read(frames, 1, 0, name);
      if (!reply) return;
      if (reply.re === undefined) return this.drop('malformed', `reply without "re" from ${link.peerId}`);
      if (reply.from !== link.peerId) return this.drop('foreignSender', `reply from ${reply.from} on ${link.peerId}'s connection`);
      if (!this.pending.settle(link.peerId, reply.re, reply)) {
        this.log('debug', `dropped late or unknown reply ${reply.re} from ${link.peerId}`);
      }
    }, this.loopContext);
  }

  private async answer(identity: Buffer, request: Envelope, rid: string): Promise<void> {
    const handler = this.requestHandler;
    const ticket = this.memberRoutes.ticket();
    // The handler answers only a request that proved its sender (a member's
    // MAC): from then on its connection is that member's.
    const proving: RequestHandler | undefined =
      handler &&
      (async (envelope) => {
        const reply = await handler(envelope);
        if (this.links.has(envelope.from)) this.memberRoutes.note(envelope.from, routerName(identity.toString('utf8')), ticket);
        return reply;
      });
    const frame = await replyFrame((fields) => this.writer.encode(fields), proving, request, rid, (error) =>
      this.handlerFailed('request', request, error),
    );
    if (this.closed) return;
    try {
      await Promise.all(this.writer.framesOf(frame).map((part) => this.routerQueue.enqueue([identity, part])));
      this.traffic.bytes('sent', request.type, frame.length);
    } catch (error) {
      if (!this.closed) this.log('warn', `cannot reply to "${request.type}" from ${request.from}: ${describeError(error)}`);
    }
  }

  private handle(kind: 'broadcast', envelope: Envelope, run: () => unknown): void {
    try {
      const result = run();
      if (result instanceof Promise) result.catch((error: unknown) => this.handlerFailed(kind, envelope, error));
    } catch (error) {
      this.handlerFailed(kind, envelope, error);
    }
  }

  private drop(reason: FrameDropReason, what: string): void {
    this.traffic.drop(reason);
    this.log('debug', `dropped (${reason}): ${what}`);
  }

  private handlerFailed(kind: 'broadcast' | 'request', envelope: Envelope, error: unknown): void {
    this.log('warn', `${kind} handler failed on "${envelope.type}" from ${envelope.from}: ${describeError(error)}`);
  }

  private log(level: LogLevel, message: string): void {
    if (this.options.log) this.options.log(level, `transport: ${message}`);
    else debugLog(`${level}: [${this.nodeId}] ${message}`);
  }
}

/** The names frames are read under (per socket and peer): fragments are put back together per name. */
const subName = (peerId: string): string => `SUB(${peerId})`;
const dealerName = (peerId: string): string => `DEALER(${peerId})`;
const routerName = (routingId: string): string => `ROUTER(${routingId})`;
const routingIdOfRouterName = (name: string): string => name.slice('ROUTER('.length, -1);
