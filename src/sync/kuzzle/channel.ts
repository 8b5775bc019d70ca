import { describeError } from '../../util/describe-error';
import type { ClusterNode } from '../../cluster/cluster-node';
import type { Log } from '../../log';
import type { Envelope } from '../../transport/envelope';
import { requestEach } from '../../transport/request-each';
import type { Reply } from '../../transport/transport';
import { isObject, type PlainObject } from '../../util/guards';

/** Parses a received body; undefined means malformed (dropped and counted). */
export type BodyParser<T> = (body: unknown) => T | undefined;

interface Route {
  parse: BodyParser<unknown>;
  handle: (body: unknown, from: string) => Promise<void> | void;
}

/**
 * The Kuzzle-state messages on top of the node's broadcast bus. Every type
 * is prefixed with "kuzzle:" so it can never collide with realtime or
 * membership messages. A handler never throws out of the transport: failures
 * are logged, malformed bodies are dropped and counted.
 */
export class SyncChannel {
  /** Bodies that failed validation, per message type. */
  readonly malformed = new Map<string, number>();
  /** Handlers that failed while applying a peer's change. */
  failures = 0;
  private readonly routes = new Map<string, Route>();
  private readonly queries = new Map<string, () => Promise<unknown>>();

  /** Acknowledged sends not settled yet (see {@link settled}). */
  private readonly outstanding = new Set<Promise<void>>();

  constructor(private readonly node: ClusterNode, readonly log: Log) {
    node.onBroadcast((envelope) => this.dispatch(envelope));
    node.onRequest((envelope) => this.answer(envelope));
  }

  on<T>(type: string, parse: BodyParser<T>, handle: (body: T, from: string) => Promise<void> | void): void {
    const route: Route = { parse, handle: (body, from) => handle(body as T, from) };
    this.routes.set(`kuzzle:${type}`, route);
  }

  /**
   * Tells every peer. Never rejects: a change that fails to propagate is
   * logged rather than failing the client's request, which already succeeded
   * on this node.
   */
  async publish(type: string, body: unknown): Promise<void> {
    try {
      await this.node.transport.publish(`kuzzle:${type}`, body);
    } catch (error) {
      this.log('error', `[cluster] could not broadcast kuzzle:${type}: ${describeError(error)}`);
    }
  }

  /**
   * Tells every member and waits until each has applied the change (or
   * failed to answer within `timers.waitForMissingRooms`). Used where the
   * next request may land on any node: rights, tokens, specifications,
   * indexes. Never rejects.
   */
  send(type: string, body: unknown): Promise<void> {
    const peers = this.node.membership?.peerIds() ?? [];
    const timeoutMs = this.node.options.timers.waitForMissingRooms;
    const sending = requestEach(this.node.transport, peers, `kuzzle:${type}`, body, timeoutMs).then((answers) => {
      for (const { peer, error } of answers) {
        if (error !== undefined) this.log('warn', `[cluster] ${peer} did not apply kuzzle:${type}: ${error}`);
      }
    });
    this.outstanding.add(sending);
    void sending.finally(() => this.outstanding.delete(sending));
    return sending;
  }

  /** Resolves once every acknowledged send started so far has settled. */
  async settled(): Promise<void> {
    await Promise.all([...this.outstanding]);
  }

  /** Answers a peer's question (see {@link query}) with `answer`'s result. */
  onQuery(type: string, answer: () => Promise<unknown>): void {
    this.queries.set(`kuzzle:${type}`, answer);
  }

  /** Asks one member (any) a question; undefined when no member answers. */
  async query(type: string, body: unknown): Promise<unknown> {
    const timeoutMs = this.node.options.timers.discoverTimeout;
    for (const peer of this.node.membership?.peerIds() ?? []) {
      try {
        return (await this.node.transport.request(peer, `kuzzle:${type}`, body, timeoutMs)).body;
      } catch (error) {
        this.log('warn', `[cluster] ${peer} did not answer kuzzle:${type}: ${describeError(error)}`);
      }
    }
    return undefined;
  }

  /** A peer's acknowledged send: apply it, then answer. */
  private answer(envelope: Envelope): Promise<Reply> | undefined {
    const query = this.queries.get(envelope.type);
    if (query) return query().then((body) => ({ type: 'answer', body }));
    const route = this.routes.get(envelope.type);
    if (!route) return undefined;
    const body = route.parse(envelope.body);
    if (body === undefined) {
      this.countMalformed(envelope);
      return Promise.reject(new Error(`malformed ${envelope.type}`));
    }
    return Promise.resolve(route.handle(body, envelope.from)).then(
      () => ({ type: 'applied', body: {} }),
      (error: Error) => {
        this.failures++;
        throw error;
      },
    );
  }

  private countMalformed(envelope: Envelope): void {
    this.malformed.set(envelope.type, (this.malformed.get(envelope.type) ?? 0) + 1);
    this.log('warn', `[cluster] dropped a malformed ${envelope.type} from ${envelope.from}`);
  }

  private dispatch(envelope: Envelope): boolean {
    const route = this.routes.get(envelope.type);
    if (!route) return false;
    const body = route.parse(envelope.body);
    if (body === undefined) {
      this.countMalformed(envelope);
      return true;
    }
    void (async () => {
      try {
        await route.handle(body, envelope.from);
      } catch (error) {
        this.failures++;
        this.log('error', `[cluster] applying ${envelope.type} from ${envelope.from} failed: ${describeError(error)}`);
      }
    })();
    return true;
  }
}

export { isObject, isNonEmptyString as isName } from '../../util/guards';
type Obj = PlainObject;

/** Reads what an API after-event hook receives (a Kuzzle Request), defensively. */
export function requestInput(request: unknown): { args: Obj; resource: Obj; body: Obj } {
  const input = isObject(request) && isObject(request.input) ? request.input : {};
  return {
    args: isObject(input.args) ? input.args : {},
    resource: isObject(input.resource) ? input.resource : {},
    body: isObject(input.body) ? input.body : {},
  };
}
