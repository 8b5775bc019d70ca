import { ClusterError } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { Envelope } from '../transport/envelope';
import type { Reply, Transport } from '../transport/transport';
import { BroadcastBacklog, type BacklogStats } from './broadcast-backlog';
import { MalformedReplyError, NotMemberError } from './errors';
import type {
  BodyOf,
  BroadcastTypes,
  Handlers,
  MessageMap,
  MessageSpec,
  ReplyOf,
  RequestTypes,
  Sender,
} from './message-spec';

/** Why the bus dropped a message the transport delivered. */
export type BusDropReason = 'unknownType' | 'wrongKind' | 'notMember' | 'unauthenticated' | 'overloaded' | 'malformed' | 'handlerFailed';

/**
 * Requests of one sender handled at once, at most: one peer (a node that
 * went wrong, or an insider holding the key) cannot take the whole node.
 * Far above what nodes send each other (their requests go in batches).
 */
export const MAX_REQUESTS_IN_FLIGHT_PER_SENDER = 64;

export interface BusStats {
  /** Messages received (broadcasts and requests) per type. */
  receivedByType: Record<string, number>;
  /** Messages sent (broadcasts, and requests and addressed messages counted once per peer) per type. */
  sentByType: Record<string, number>;
  dropped: Record<BusDropReason, number>;
}

/** One peer's answer to {@link Channel.requestEach}: its reply, or why there is none. */
export type PeerAnswer<R> = { peer: string; reply: R; error?: undefined } | { peer: string; reply?: undefined; error: Error };

/**
 * Decides whether a sender counts as a member (see `SenderPolicy`). A
 * request may be judged later (a join in flight); a broadcast is judged at
 * once, to keep each sender's broadcasts in order.
 */
export type MemberGate = (sender: Sender, kind: 'broadcast' | 'request') => boolean | Promise<boolean>;

/** Whether a request was sent by the node it names (its MAC over its bytes); may look the sender up. */
export type RequestVerifier = (sender: Sender, envelope: Envelope) => boolean | Promise<boolean>;

interface Route {
  readonly spec: MessageSpec;
  readonly handle: (body: unknown, sender: Sender) => unknown;
}

/**
 * Typed messaging over a {@link Transport}. Each layer registers its message
 * map with a complete handler table and gets a {@link Channel} to send its
 * own types. Every incoming message is checked against its declaration:
 * known type, right direction, allowed sender, valid body; anything else is
 * dropped and counted (a refused request gets an error reply with its code).
 */
export class MessageBus {
  private readonly routes = new Map<string, Route>();
  private readonly droppedCounts: Record<BusDropReason, number> = {
    unknownType: 0,
    wrongKind: 0,
    notMember: 0,
    unauthenticated: 0,
    overloaded: 0,
    malformed: 0,
    handlerFailed: 0,
  };
  private readonly received = new Map<string, number>();
  private readonly sent = new Map<string, number>();
  private isMember: MemberGate = () => false;
  private verifyRequest: RequestVerifier | undefined;
  private readonly inFlight = new Map<string, number>();
  /** Each sender's broadcasts still being handled: bounded, its next ones held beyond. */
  private readonly backlog: BroadcastBacklog;
  private readonly seenListeners: Array<(sender: Sender, kind: 'broadcast' | 'request') => void> = [];

  constructor(
    private readonly transport: Transport,
    private readonly log: Log,
  ) {
    this.backlog = new BroadcastBacklog(
      (peerId, until) => transport.holdBroadcasts(peerId, until),
      (message) => log('warn', message),
    );
    transport.onBroadcast((envelope) => this.dispatch('broadcast', envelope));
    transport.onRequest((envelope) => this.dispatch('request', envelope));
    transport.countTypes((type) => this.routes.has(type));
  }

  /** Sets who counts as a member; until then, only `anyone` messages are accepted. */
  setMemberGate(gate: MemberGate): void {
    this.isMember = gate;
  }

  /** Every request must prove its sender from now on (any type, `anyone` ones included). */
  setRequestVerifier(verifier: RequestVerifier): void {
    this.verifyRequest = verifier;
  }

  /** Called with the sender of every message accepted past the sender check: proof of life. */
  onSeen(listener: (sender: Sender, kind: 'broadcast' | 'request') => void): void {
    this.seenListeners.push(listener);
  }

  /**
   * Registers message types and their handlers.
   *
   * @throws Error when a type is already registered (two layers claiming one name).
   */
  register<M extends MessageMap>(messages: M, handlers: Handlers<M>): Channel<M> {
    for (const type of Object.keys(messages)) {
      if (this.routes.has(type)) throw new Error(`message type "${type}" is registered twice`);
    }
    for (const [type, spec] of Object.entries(messages)) {
      const handle = (handlers as Record<string, (body: unknown, sender: Sender) => unknown>)[type];
      if (!handle) throw new Error(`no handler for message type "${type}"`);
      this.routes.set(type, { spec, handle });
    }
    return new Channel<M>(this, messages);
  }

  stats(): BusStats {
    return {
      receivedByType: Object.fromEntries(this.received),
      sentByType: Object.fromEntries(this.sent),
      dropped: { ...this.droppedCounts },
    };
  }

  /** Peers' broadcasts being handled here, and the peers held for it. */
  backlogStats(): BacklogStats {
    return this.backlog.stats();
  }

  /** The node stops: holds end with their timers. */
  stop(): void {
    this.backlog.stop();
  }

  /** @internal used by {@link Channel}: broadcasts a checked body; throws at once as {@link Transport.publish} does. */
  publish(type: string, body: unknown): Promise<void> {
    return this.transport.publish(type, body).then(() => this.countSent(type));
  }

  /** @internal used by {@link Channel}: sends a checked broadcast-kind body to these peers only; throws at once as {@link Transport.publish} does. */
  publishTo(peers: readonly string[], type: string, body: unknown): Promise<void> {
    return this.transport.publishTo(peers, type, body).then(() => this.countSent(type, peers.length));
  }

  /** @internal used by {@link Channel}: sends a checked body to one peer; the reply is checked by the channel. */
  request(peer: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope> {
    this.countSent(type);
    return this.transport.request(peer, type, body, timeoutMs);
  }

  private countSent(type: string, messages = 1): void {
    this.sent.set(type, (this.sent.get(type) ?? 0) + messages);
  }

  private dispatch(kind: 'broadcast', envelope: Envelope): void;
  private dispatch(kind: 'request', envelope: Envelope): Promise<Reply>;
  private dispatch(kind: 'broadcast' | 'request', envelope: Envelope): Promise<Reply> | void {
    const route = this.routes.get(envelope.type);
    if (!route) return this.refuse(kind, envelope, 'unknownType', new ClusterError('KPC_UNKNOWN_TYPE', `unknown message type "${envelope.type}"`));
    if (route.spec.kind !== kind) {
      return this.refuse(kind, envelope, 'wrongKind', new ClusterError('KPC_WRONG_KIND', `"${envelope.type}" is a ${route.spec.kind}, not a ${kind}`));
    }
    const sender: Sender = { id: envelope.from, incarnation: envelope.inc };
    if (kind === 'broadcast') {
      const admitted = route.spec.sender === 'anyone' || this.isMember(sender, kind);
      if (admitted === true) this.deliverBroadcast(route, envelope, sender);
      else this.refuse(kind, envelope, 'notMember', new NotMemberError(envelope.from));
      return;
    }
    // A request proves its sender first: only then does it count against
    // that sender's bound (forged ones cannot use up a node's slots).
    const verified = this.verifyRequest ? this.verifyRequest(sender, envelope) : true;
    return Promise.resolve(verified).then((authentic) => {
      if (!authentic) return this.refuse('request', envelope, 'unauthenticated', new ClusterError('KPC_UNAUTHENTICATED', `the request does not prove it comes from ${envelope.from}`));
      const busy = this.inFlight.get(sender.id) ?? 0;
      if (busy >= MAX_REQUESTS_IN_FLIGHT_PER_SENDER) {
        return this.refuse('request', envelope, 'overloaded', new ClusterError('KPC_BUSY', `${busy} requests of ${sender.id} already in progress`));
      }
      this.inFlight.set(sender.id, busy + 1);
      return Promise.resolve(route.spec.sender === 'anyone' || this.isMember(sender, kind))
        .then((member) => (member ? this.deliverRequest(route, envelope, sender) : this.refuse('request', envelope, 'notMember', new NotMemberError(envelope.from))))
        .finally(() => {
          const left = (this.inFlight.get(sender.id) ?? 1) - 1;
          if (left > 0) this.inFlight.set(sender.id, left);
          else this.inFlight.delete(sender.id);
        });
    });
  }

  /** Parses an admitted message's body; counts it, or counts it as malformed. */
  private accept(route: Route, envelope: Envelope, sender: Sender): { body: unknown } | undefined {
    for (const listener of this.seenListeners) listener(sender, route.spec.kind);
    const body = route.spec.parse(envelope.body);
    if (body === undefined) return undefined;
    this.received.set(envelope.type, (this.received.get(envelope.type) ?? 0) + 1);
    return { body };
  }

  private deliverBroadcast(route: Route, envelope: Envelope, sender: Sender): void {
    const accepted = this.accept(route, envelope, sender);
    if (!accepted) return this.refuse('broadcast', envelope, 'malformed', malformed(envelope));
    try {
      const result = route.handle(accepted.body, sender);
      if (result instanceof Promise) {
        result.catch((error: unknown) => this.handlerFailed(envelope, error));
        this.backlog.track(sender.id, result);
      }
    } catch (error) {
      this.handlerFailed(envelope, error);
    }
  }

  private async deliverRequest(route: Route, envelope: Envelope, sender: Sender): Promise<Reply> {
    const accepted = this.accept(route, envelope, sender);
    if (!accepted) return this.refuse('request', envelope, 'malformed', malformed(envelope));
    const reply = await route.handle(accepted.body, sender);
    return { type: `${envelope.type}:reply`, body: reply === undefined ? null : reply };
  }

  /** Counts a refused message; a refused request is answered with the error (and its code). */
  private refuse(kind: 'broadcast', envelope: Envelope, reason: BusDropReason, error: ClusterError): void;
  private refuse(kind: 'request', envelope: Envelope, reason: BusDropReason, error: ClusterError): Promise<never>;
  private refuse(kind: 'broadcast' | 'request', envelope: Envelope, reason: BusDropReason, error: ClusterError): Promise<never> | void;
  private refuse(kind: 'broadcast' | 'request', envelope: Envelope, reason: BusDropReason, error: ClusterError): Promise<never> | void {
    this.droppedCounts[reason] += 1;
    this.log('debug', `dropped "${envelope.type}" from ${envelope.from} (${reason}): ${error.message}`);
    if (kind === 'request') return Promise.reject(error);
  }

  private handlerFailed(envelope: Envelope, error: unknown): void {
    this.droppedCounts.handlerFailed += 1;
    this.log('warn', `applying "${envelope.type}" from ${envelope.from} failed: ${describeError(error)}`);
  }
}

function malformed(envelope: Envelope): ClusterError {
  return new ClusterError('KPC_MALFORMED', `malformed "${envelope.type}" body`);
}

/** Sends the message types of one registered map, with their declared body and reply types. */
export class Channel<M extends MessageMap> {
  constructor(
    private readonly bus: MessageBus,
    private readonly messages: M,
  ) {}

  /** Broadcasts to every peer; a body that cannot be sent throws at once (see {@link Transport.publish}). */
  publish<T extends BroadcastTypes<M>>(type: T, body: BodyOf<M[T]>): Promise<void> {
    return this.bus.publish(type, body);
  }

  /** Sends a broadcast-kind message to these peers only (see {@link Transport.publishTo}); they handle it as a broadcast. */
  publishTo<T extends BroadcastTypes<M>>(peers: readonly string[], type: T, body: BodyOf<M[T]>): Promise<void> {
    return this.bus.publishTo(peers, type, body);
  }

  /**
   * Sends a request and resolves with the peer's reply body, checked against
   * the declared reply parser.
   *
   * @throws the transport's errors (timeout, peer not connected, closed), a
   * RemoteHandlerError carrying the peer's error code, or MalformedReplyError.
   */
  async request<T extends RequestTypes<M>>(peer: string, type: T, body: BodyOf<M[T]>, timeoutMs: number): Promise<ReplyOf<M[T]>> {
    const envelope = await this.bus.request(peer, type, body, timeoutMs);
    const spec = this.messages[type];
    const reply = spec?.kind === 'request' ? spec.parseReply(envelope.body) : undefined;
    if (reply === undefined) throw new MalformedReplyError(peer, type);
    return reply as ReplyOf<M[T]>;
  }

  /** Sends one request to each peer at once and waits for every answer or failure. Never rejects. */
  async requestEach<T extends RequestTypes<M>>(
    peers: readonly string[],
    type: T,
    body: BodyOf<M[T]>,
    timeoutMs: number,
  ): Promise<Array<PeerAnswer<ReplyOf<M[T]>>>> {
    const results = await Promise.allSettled(peers.map((peer) => this.request(peer, type, body, timeoutMs)));
    return results.map((result, i) => {
      const peer = peers[i] ?? '?';
      if (result.status === 'fulfilled') return { peer, reply: result.value };
      const error = result.reason instanceof Error ? result.reason : new Error(describeError(result.reason));
      return { peer, error };
    });
  }
}
