import type { Log } from '../util/log';
import type { CurveKeys } from './curve-keys';
import { isId } from './codec';
import { isWildcard } from './socket-options';

/** Where a socket binds. `host` is an IP literal (IPv6 with or without brackets), `*`, `0.0.0.0` or `::`. */
export interface BindEndpoint {
  host: string;
  /** 0 binds a free port (tests); the real one is then read back from the socket. */
  port: number;
}

/** Options of `ZmqTransport`. */
export interface ZmqTransportOptions {
  nodeId: string;
  router: BindEndpoint;
  pub: BindEndpoint;
  /**
   * Host written into the `NodeAddresses` peers connect to. Defaults to
   * the bind host; required when that is a wildcard (0.0.0.0, ::, *), since
   * peers cannot connect to a wildcard.
   */
  advertisedHost?: string;
  /**
   * ZMQ_SNDHWM of every socket, in messages per peer; default
   * `DEFAULT_HIGH_WATER_MARK` (100 000). zeromq's own default (1000) would drop
   * broadcasts on a burst (PUB drops silently past it), and a cluster would
   * rather spend memory than miss a state change; 0 means unlimited.
   */
  sendHighWaterMark?: number;
  /** ZMQ_RCVHWM of every socket; default `RECEIVE_BUDGET_BYTES` worth of `maxFrameBytes` frames (64 of 1 MiB). */
  receiveHighWaterMark?: number;
  /**
   * CURVE keys: every socket encrypted, and only peers presenting an
   * accepted key can connect. Without it, the sockets are open to anyone
   * who reaches the ports.
   */
  curve?: CurveKeys;
  /** Largest frame sent or accepted; default `DEFAULT_MAX_FRAME_BYTES` (1 MiB). */
  maxFrameBytes?: number;
  /** Largest message, whole or in fragments; default `DEFAULT_MAX_MESSAGE_BYTES` (16 MiB). */
  maxMessageBytes?: number;
  /** Log sink. Defaults to the `debug` package. */
  log?: Log;
}

/**
 * Checks options before any socket is created, so a bad configuration fails
 * at construction rather than at bind time or, worse, on the peers.
 *
 * @throws Error on an invalid node id, port, or a wildcard bind host without `advertisedHost`.
 */
export function validateOptions(options: ZmqTransportOptions): void {
  if (!isId(options.nodeId)) throw new Error(`invalid node id "${options.nodeId}"`);
  for (const [name, endpoint] of [['router', options.router], ['pub', options.pub]] as const) {
    if (!Number.isInteger(endpoint.port) || endpoint.port < 0 || endpoint.port > 65535) {
      throw new Error(`invalid ${name} port ${endpoint.port}`);
    }
    if (isWildcard(endpoint.host) && options.advertisedHost === undefined) {
      throw new Error(`${name} binds to wildcard host "${endpoint.host}": advertisedHost is required`);
    }
  }
}
