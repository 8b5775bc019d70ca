import type { Publisher, Router } from 'zeromq';
import type { LogLevel } from '../util/log';
import { zapHandler } from './zap-handler';

/**
 * How a connection's handshake ended without completing, as libzmq reports
 * it. Exactly one per connection, so the sum is the number of connections
 * that never got in.
 */
export type HandshakeFailure =
  /** The client did not speak CURVE at all (a socket without a key). */
  | 'noCurve'
  /** The client's CURVE key was refused by the key check (see {@link SocketHandshakes.keysRefused}). */
  | 'keyRefused'
  /** A CURVE handshake that failed its cryptography (a client expecting another server key) or broke the ZMTP protocol. */
  | 'protocol'
  /**
   * The client hung up mid-handshake. A client without a key often does so
   * itself on reading this node's CURVE greeting, before this node reads
   * its own; a client whose key was still being checked is counted here
   * too (its key refusal is in `keysRefused`).
   */
  | 'cutShort';

/** The two sockets a node serves on. */
export type ServerSocketName = 'router' | 'pub';

/** What happened to the connections one server socket accepted. */
export interface SocketHandshakes {
  /** TCP connections accepted. */
  accepted: number;
  /** Handshakes completed (with CURVE: the key was accepted). */
  completed: number;
  /**
   * Connections whose handshake failed, one count each, by how it ended.
   * Accepted connections that are neither completed nor failed are in
   * their handshake now, or sent bytes that are not ZeroMQ at all (libzmq
   * closes those without a handshake event).
   */
  failed: Record<HandshakeFailure, number>;
  /**
   * Client keys this node's key check refused, counted when it decides:
   * also those of clients that hung up before the answer.
   */
  keysRefused: number;
}

type Log = (level: LogLevel, message: string) => void;

const emptyCounts = (): SocketHandshakes => ({
  accepted: 0,
  completed: 0,
  failed: { noCurve: 0, keyRefused: 0, protocol: 0, cutShort: 0 },
  keysRefused: 0,
});

/**
 * Counts handshakes on a node's server sockets from libzmq's monitor
 * events, which its I/O thread emits whatever the event loop is doing, and
 * key refusals from the ZAP handler ({@link keyRefused}), which answers on
 * the event loop: a refusal decided after the client hung up still counts.
 * Failures are logged at debug level only, so that a flood of strangers
 * cannot flood the log.
 */
export class HandshakeCounts {
  private readonly counts: Record<ServerSocketName, SocketHandshakes> = { router: emptyCounts(), pub: emptyCounts() };

  constructor(private readonly log: Log) {}

  watch(name: ServerSocketName, socket: Router | Publisher): void {
    const counts = this.counts[name];
    const failed = (failure: HandshakeFailure, detail: string): void => {
      counts.failed[failure] += 1;
      this.log('debug', `${name} handshake failed (${failure}): ${detail}`);
    };
    socket.events.on('accept', () => void (counts.accepted += 1));
    socket.events.on('handshake', () => void (counts.completed += 1));
    socket.events.on('handshake:error:protocol', (event) => {
      failed(event.error.code === 'ERR_ZMTP_MECHANISM_MISMATCH' ? 'noCurve' : 'protocol', `${event.address}, ${event.error.code}`);
    });
    socket.events.on('handshake:error:auth', (event) => failed('keyRefused', event.address));
    socket.events.on('handshake:error:other', (event) => failed('cutShort', `${event.address}, ${event.error.message}`));
  }

  /**
   * Has the process's ZAP handler check the keys of clients of this node's
   * sockets (ZAP domains of {@link zapDomainOf}), counting its refusals.
   * Before any socket binds: a handshake with no handler to ask is refused.
   */
  async checkKeys(nodeId: string, accepted: string[]): Promise<void> {
    for (const socket of ['router', 'pub'] as const) {
      await zapHandler.register(zapDomainOf(nodeId, socket), accepted, ({ address, mechanism }) => this.keyRefused(socket, `${address}, ${mechanism}`));
    }
  }

  stopCheckingKeys(nodeId: string): void {
    for (const socket of ['router', 'pub'] as const) zapHandler.unregister(zapDomainOf(nodeId, socket));
  }

  /** The key check refused a client's key on `name`. */
  keyRefused(name: ServerSocketName, detail: string): void {
    this.counts[name].keysRefused += 1;
    this.log('debug', `${name} key refused: ${detail}`);
  }

  /** Connections of both sockets that never got in. */
  totalFailed(): number {
    let total = 0;
    for (const counts of Object.values(this.counts)) for (const value of Object.values(counts.failed)) total += value;
    return total;
  }

  snapshot(): Record<ServerSocketName, SocketHandshakes> {
    const copy = (counts: SocketHandshakes): SocketHandshakes => ({ ...counts, failed: { ...counts.failed } });
    return { router: copy(this.counts.router), pub: copy(this.counts.pub) };
  }
}

/** The ZAP domain of one of a node's server sockets (one handler serves the whole process). */
export function zapDomainOf(nodeId: string, socket: ServerSocketName): string {
  return `kpc:${nodeId}:${socket}`;
}

/** Counts of a transport that has no server sockets of its own (in-memory doubles). */
export const noHandshakes = (): Record<ServerSocketName, SocketHandshakes> => ({ router: emptyCounts(), pub: emptyCounts() });
