import type { Envelope, NodeAddresses } from './envelope';

/** Counters a transport keeps for status and metrics. */
export interface TransportStats {
  published: number;
  received: number;
  requestsSent: number;
  requestsReceived: number;
  /** Frames dropped because they could not be decoded or had a bad envelope. */
  malformed: number;
  /** Requests that got no reply in time. */
  timeouts: number;
}

/** A reply produced by a request handler. */
export interface Reply {
  type: string;
  body: unknown;
}

export type BroadcastHandler = (envelope: Envelope) => void;
export type RequestHandler = (envelope: Envelope) => Promise<Reply>;

/**
 * How nodes talk: a broadcast channel (every peer receives every publish of
 * this node, in order) and request/reply to one peer. The membership core and
 * the sync handlers only see this interface, so tests can run several nodes
 * in one process, and a fault-injecting decorator can wrap the real one.
 */
export interface Transport {
  readonly nodeId: string;
  /** Binds the ROUTER and PUB sockets; resolves with the addresses peers use. */
  bind(): Promise<NodeAddresses>;
  /** Subscribes to a peer's broadcasts and opens a request channel to it. Idempotent. */
  connect(peerId: string, addresses: NodeAddresses): void;
  /** Forgets a peer: no more broadcasts from it, pending requests rejected. Idempotent. */
  disconnect(peerId: string): void;
  /** Peers currently connected. */
  peers(): string[];
  /** Broadcasts to every connected peer; resolves once handed to the socket. */
  publish(type: string, body: unknown): Promise<void>;
  /** Sends a request to one peer; rejects with a timeout error after `timeoutMs`. */
  request(peerId: string, type: string, body: unknown, timeoutMs: number): Promise<Envelope>;
  onBroadcast(handler: BroadcastHandler): void;
  onRequest(handler: RequestHandler): void;
  stats(): TransportStats;
  /** Closes every socket; idempotent. `flushMs`: time left to queued broadcasts. */
  close(options?: { flushMs?: number }): Promise<void>;
}
