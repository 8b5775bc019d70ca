import { Router } from 'zeromq';
import { z85Decode } from '../util/z85';
import { closeQuietly } from './receive-loop';

/** Where libzmq asks who may connect (ZAP, ZeroMQ RFC 27), one per ZeroMQ context. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** A handshake the handler refused: who asked, and with which mechanism. */
export interface ZapRefusal {
  /** The client's address as libzmq reports it (its IP). */
  address: string;
  mechanism: string;
}

interface Domain {
  accepted: Buffer[];
  onRefused: (refusal: ZapRefusal) => void;
}

/**
 * The process's ZAP handler: libzmq asks it, for every CURVE handshake on a
 * server socket, whether the client's public key may connect. Each
 * transport registers its ZAP domain with the keys it accepts; anything
 * else (and every other mechanism) is refused, so a node without the
 * cluster's key cannot connect to a ROUTER or a PUB.
 *
 * Refusals are reported here, when the handler decides, rather than from
 * the sockets' `handshake:error:auth` events: a client that closes before
 * this handler (on the event loop) answers makes libzmq report a cut-short
 * handshake (`handshake:error:other`, EPIPE) instead, although the key was
 * refused all the same.
 */
class ZapHandler {
  private readonly domains = new Map<string, Domain>();
  private socket: Router | undefined;
  private binding: Promise<void> | undefined;

  async register(domain: string, acceptedKeys: string[], onRefused: (refusal: ZapRefusal) => void): Promise<void> {
    const accepted = acceptedKeys.map((key) => z85Decode(key)).filter((key): key is Buffer => key !== undefined);
    this.domains.set(domain, { accepted, onRefused });
    this.binding ??= this.bind();
    await this.binding;
  }

  unregister(domain: string): void {
    this.domains.delete(domain);
    if (this.domains.size > 0 || !this.socket) return;
    closeQuietly(this.socket);
    this.socket = undefined;
    this.binding = undefined;
  }

  private async bind(): Promise<void> {
    const socket = new Router({ linger: 0 });
    await socket.bind(ZAP_ENDPOINT);
    this.socket = socket;
    void this.serve(socket);
  }

  private async serve(socket: Router): Promise<void> {
    try {
      for await (const frames of socket) {
        // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
        const [routingId, empty, version, requestId, domain, address, , mechanism, key] = frames;
        const entry = this.domains.get(domain?.toString() ?? '');
        const allowed =
          version?.toString() === '1.0' &&
          mechanism?.toString() === 'CURVE' &&
          key !== undefined &&
          entry !== undefined &&
          entry.accepted.some((accepted) => accepted.equals(key));
        if (!allowed) entry?.onRefused({ address: address?.toString() ?? '?', mechanism: mechanism?.toString() ?? '?' });
        await socket.send([
          routingId ?? Buffer.alloc(0),
          empty ?? Buffer.alloc(0),
          '1.0',
          requestId ?? Buffer.alloc(0),
          allowed ? '200' : '400',
          allowed ? 'OK' : 'not a key of this cluster',
          '',
          '',
        ]);
      }
    } catch {
      // The socket was closed (last transport gone): nothing left to answer.
    }
  }
}

/** One per process: libzmq looks the handler up by its fixed inproc address. */
export const zapHandler = new ZapHandler();
