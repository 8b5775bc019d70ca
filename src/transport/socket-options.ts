import { isIP } from 'net';
import type { Dealer, Publisher, Router, SocketOptions, Subscriber } from 'zeromq';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_MESSAGE_BYTES } from './codec';
import type { CurveKeys } from './curve-keys';
import { newRoutingId } from './routing-ids';

/** Default high water mark, see `ZmqTransportOptions.sendHighWaterMark`. */
export const DEFAULT_HIGH_WATER_MARK = 100_000;
/**
 * What one connection may pile up in this node's receive queue at most:
 * ZMQ_RCVHWM defaults to this many bytes of `maxFrameBytes` frames (64
 * frames of 1 MiB), at least 16. Past it ZeroMQ stops reading from that
 * connection; a legitimate burst waits in the sender's queue meanwhile.
 */
export const RECEIVE_BUDGET_BYTES = 64 * 1024 * 1024;

/** What every socket of one transport shares. */
export interface SocketLimits {
  /** ZMQ_SNDHWM. */
  readonly send: number;
  /** ZMQ_RCVHWM. */
  readonly receive: number;
  /** ZMQ_MAXMSGSIZE of receiving sockets: a bigger frame is refused before it is buffered. */
  readonly maxFrameBytes: number;
  /** Largest message, sent whole or in fragments of `maxFrameBytes`. */
  readonly maxMessageBytes: number;
}

/** The limits of a transport's sockets, from its options and the defaults. */
export function limitsOf(options: { sendHighWaterMark?: number; receiveHighWaterMark?: number; maxFrameBytes?: number; maxMessageBytes?: number }): SocketLimits {
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  return {
    send: options.sendHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    receive: options.receiveHighWaterMark ?? Math.max(16, Math.floor(RECEIVE_BUDGET_BYTES / maxFrameBytes)),
    maxFrameBytes,
    maxMessageBytes: Math.max(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, maxFrameBytes),
  };
}

const WILDCARD_HOSTS = new Set(['*', '0.0.0.0', '::']);
/** Every spelling of IPv6's and dual stack's "any" address (`::0`, `::0.0.0.0`, …), as the URL parser writes them. */
const IPV6_WILDCARD_HOSTS = new Set(['[::]', '[::ffff:0:0]']);

// Socket options are built here only, and applied at construction, because
// zeromq requires them before any bind/connect.

/**
 * CURVE server side (ROUTER, PUB): encrypted, and every client's key is
 * checked by the ZAP handler of `zapDomain`; with no handler, nobody gets in.
 */
export function curveServerOptions(curve: CurveKeys | undefined, zapDomain: string) {
  if (!curve) return {};
  return { curveServer: true, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey, zapDomain, zapEnforceDomain: true };
}

/** CURVE client side (SUB, DEALER): presents the cluster's key to a peer serving with `serverKey`. */
export function curveClientOptions(curve: CurveKeys | undefined, serverKey: string | undefined) {
  if (!curve) return {};
  return { curveServerKey: serverKey ?? curve.publicKey, curvePublicKey: curve.publicKey, curveSecretKey: curve.secretKey };
}

/**
 * `sendTimeout` of the sockets whose sends never block (PUB, and ROUTER
 * without `mandatory`: past the high water mark they drop). With 0,
 * zeromq.js sends at once without first asking libzmq whether the socket
 * is writable (a `getsockopt` per send, which polls the socket's mailbox:
 * a system call on every change a node sends).
 */
const NEVER_BLOCKS = 0;

/** Options of the ROUTER bound on `bindHost`. */
export function routerOptions(bindHost: string, limits: SocketLimits): SocketOptions<Router> {
  return {
    linger: 0,
    ipv6: isIpv6Host(bindHost),
    mandatory: false,
    sendTimeout: NEVER_BLOCKS,
    // A peer reconnecting its DEALER (new addresses, or a reconnect) takes
    // its routing id over from the stale connection. Without handover,
    // libzmq parks the new connection as unidentified until the old one is
    // gone, and a request sent meanwhile stays stuck in it for good (the
    // integration test "rejects pending requests of a peer on disconnect()"
    // hangs). A routing id proves nothing anyway: requests carry their
    // sender's MAC (see NodeIdentities), and a DEALER's id has a random
    // part (see routing-ids.ts), so another connection cannot take a
    // member's over to receive the replies meant for it.
    handover: true,
    sendHighWaterMark: limits.send,
    receiveHighWaterMark: limits.receive,
    maxMessageSize: limits.maxFrameBytes,
  };
}

/**
 * Longest message a PUB accepts from a connection: a subscription, which
 * for this cluster's SUBs is a topic prefix of at most `@<node id>\n`.
 * Without a bound libzmq would buffer whatever size a frame announces.
 */
const MAX_SUBSCRIPTION_BYTES = 4096;

/** Options of the PUB bound on `bindHost`. */
export function pubOptions(bindHost: string, limits: SocketLimits): SocketOptions<Publisher> {
  return {
    linger: 0,
    ipv6: isIpv6Host(bindHost),
    sendHighWaterMark: limits.send,
    sendTimeout: NEVER_BLOCKS,
    maxMessageSize: MAX_SUBSCRIPTION_BYTES,
  };
}

// Connecting sockets get ipv6 so that they reach IPv4 and IPv6 peers alike.

/** Options of the SUB connected to one peer's PUB. */
export function subOptions(limits: SocketLimits): SocketOptions<Subscriber> {
  return { linger: 0, ipv6: true, receiveHighWaterMark: limits.receive, maxMessageSize: limits.maxFrameBytes };
}

/**
 * Options of a DEALER connected to one peer's ROUTER. Its routing id names
 * this node (see routing-ids.ts): the peer's ROUTER checks every request's
 * `from` against it.
 */
export function dealerOptions(nodeId: string, limits: SocketLimits): SocketOptions<Dealer> {
  return {
    linger: 0,
    ipv6: true,
    routingId: newRoutingId(nodeId),
    // Queue requests only on a completed connection: a peer that is down
    // makes send() wait (bounded by each request's deadline) instead of
    // piling stale requests up for whenever it comes back.
    immediate: true,
    sendHighWaterMark: limits.send,
    receiveHighWaterMark: limits.receive,
    maxMessageSize: limits.maxFrameBytes,
  };
}

/** Whether `host` (bracketed or not) is an IPv6 literal; zeromq binds those only with `ipv6` set. */
export function isIpv6Host(host: string): boolean {
  return stripBrackets(host).includes(':');
}

/** Whether `host` is a wildcard bind address, which peers cannot connect to. */
export function isWildcard(host: string): boolean {
  const bare = stripBrackets(host);
  return WILDCARD_HOSTS.has(bare) || (isIP(bare) === 6 && IPV6_WILDCARD_HOSTS.has(new URL(`http://[${bare}]`).hostname));
}

/** `tcp://host:port`, with IPv6 hosts in brackets as zeromq expects; port 0 binds a free port. */
export function endpointOf(host: string, port: number): string {
  const bare = stripBrackets(host);
  return `tcp://${bare.includes(':') ? `[${bare}]` : bare}:${port === 0 ? '*' : port}`;
}

/**
 * The endpoint peers connect to: `host` with the port actually bound, read
 * back from the socket's `lastEndpoint` (it differs from the asked one for 0).
 *
 * @throws Error when `lastEndpoint` carries no port.
 */
export function advertisedEndpoint(lastEndpoint: string | null, host: string): string {
  const port = lastEndpoint ? /:(\d+)$/.exec(lastEndpoint)?.[1] : undefined;
  if (port === undefined) throw new Error(`cannot read the bound port from endpoint "${lastEndpoint}"`);
  return endpointOf(host, Number(port));
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
