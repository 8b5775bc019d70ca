import type { Envelope, NodeAddresses } from './envelope';
import type { ServerSocketName, SocketHandshakes } from './handshake-counts';

/** Why the transport dropped a frame before any handler saw it. */
export type TransportDropReason =
  /** Not a valid envelope of this protocol version (or too big). */
  | 'malformed'
  /** `from` differs from the peer the socket is bound to (spoofed, or an address reused by another node). */
  | 'foreignSender'
  /** A broadcast whose `seq` is not newer than the last one of its sender (replayed or duplicated). */
  | 'replayed'
  /** A connection whose handshake failed: refused (no accepted CURVE key, a broken handshake) or cut short by the client (the sum of `handshakes.*.failed`). */
  | 'unauthenticated';

/** Counters a transport keeps for status and metrics. */
export interface TransportStats {
  /** Broadcasts sent. */
  published: number;
  /** Messages sent to one peer on the broadcast channel (one per peer addressed, see {@link Transport.publishTo}). */
  addressed: number;
  /** Broadcasts and addressed messages received. */
  received: number;
  requestsSent: number;
  requestsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Requests that got no reply in time. */
  timeouts: number;
  /** Requests awaiting their reply. */
  pendingRequests: number;
  dropped: Record<TransportDropReason, number>;
  /** Bytes of frames sent and received, per message type (replies under their request's type). */
  bytesByType: { sent: Record<string, number>; received: Record<string, number> };
  /** Broadcasts and addressed messages missed (sequence gaps), per peer, since it was connected. */
  gaps: Record<string, number>;
  /** Connections to this node's ROUTER and PUB: accepted, completed, failed by how, keys refused. */
  handshakes: Record<ServerSocketName, SocketHandshakes>;
}

/** A reply produced by a request handler. */
export interface Reply {
  type: string;
  body: unknown;
}

/**
 * Receives each broadcast of a connected peer, and each message it
 * addressed to this node, in the order sent; `envelope.from` is the peer it
 * came from (the transport drops any other).
 */
export type BroadcastHandler = (envelope: Envelope) => void;
/** Answers a request; `envelope.from` is the sender's routing id. */
export type RequestHandler = (envelope: Envelope) => Promise<Reply>;
/** Messages of a connected peer (its broadcasts, or those it addressed to this node) were lost between `expected` and `received - 1`. */
export type GapHandler = (peerId: string, expected: number, received: number) => void;
/** The connection to a peer's ROUTER was closed by the other side (its process died, or the network cut it). */
export type DisconnectHandler = (peerId: string) => void;
/** The MAC of a request to `peerId` over its encoded bytes; undefined when none can be made. */
export type RequestSigner = (peerId: string, signed: Buffer) => string | undefined;

/**
 * How nodes talk: a broadcast channel (every peer receives every publish of
 * this node, in order) and request/reply to one peer. The layers above only
 * see this interface, so tests can run several nodes in one process, and a
 * fault-injecting decorator can wrap the real one.
 */
export interface Transport {
  readonly nodeId: string;
  /** Binds the ROUTER and PUB sockets; resolves with the addresses peers use. */
  bind(): Promise<NodeAddresses>;
  /** Stamped on every envelope sent from now on. */
  setIncarnation(incarnation: number): void;
  /** Subscribes to a peer's broadcasts and opens a request channel to it. Idempotent. */
  connect(peerId: string, addresses: NodeAddresses): void;
  /** Forgets a peer: no more broadcasts from it, pending requests rejected. Idempotent. */
  disconnect(peerId: string): void;
  /** Peers currently connected. */
  peers(): string[];
  /**
   * Broadcasts to every connected peer; resolves once handed to the socket.
   *
   * @throws at once, before anything is sent, when the body cannot be
   * (TypeError: not JSON; FrameTooLargeError: over `maxMessageBytes`), so
   * that a caller sending in parts instead keeps its messages in order
   * with the next ones. Every other failure rejects.
   */
  publish(type: string, body: unknown): Promise<void>;
  /**
   * Sends a broadcast-kind message to these peers only, each its own copy,
   * in order with this node's broadcasts; a peer not listed never receives
   * it. Resolves once handed to the socket. Throws at once as
   * {@link publish} does.
   */
  publishTo(peerIds: readonly string[], type: string, body: unknown): Promise<void>;
  /**
   * Reads no further broadcast or addressed message of `peerId` until
   * `until` settles (held again meanwhile: until both settle). They wait in
   * this node's socket, then in the peer's send queue, whose high-water
   * mark drops the rest (seen here as a gap). Requests are still read.
   */
  holdBroadcasts(peerId: string, until: Promise<void>): void;
  /** Whether this node holds `peerId`'s broadcasts now (they wait unread: its silence is not news). */
  holding(peerId: string): boolean;
  /** Sends a request to one peer; rejects with a timeout error after `timeoutMs`. */
  request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope>;
  onBroadcast(handler: BroadcastHandler): void;
  onRequest(handler: RequestHandler): void;
  onGap(handler: GapHandler): void;
  onDisconnect(handler: DisconnectHandler): void;
  /** Signs every request sent from now on. */
  setSigner(signer: RequestSigner): void;
  /** Received bytes are counted per type (in stats) only for the types `known` accepts; the rest share one key. */
  countTypes(known: (type: string) => boolean): void;
  stats(): TransportStats;
  /** Broadcasts sent so far: `stats().published` without building the whole snapshot (read every tick). */
  published(): number;
  /** Closes every socket; idempotent. `flushMs`: time left to queued broadcasts. */
  close(options?: { flushMs?: number }): Promise<void>;
}
