import type { ClusterNode } from '../../cluster/cluster-node';
import type { Log } from '../../log';
import type { Envelope } from '../../transport/envelope';
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

  constructor(private readonly node: ClusterNode, readonly log: Log) {
    node.onBroadcast((envelope) => this.dispatch(envelope));
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
      this.log('error', `[cluster] could not broadcast kuzzle:${type}: ${(error as Error).message}`);
    }
  }

  private dispatch(envelope: Envelope): boolean {
    const route = this.routes.get(envelope.type);
    if (!route) return false;
    const body = route.parse(envelope.body);
    if (body === undefined) {
      this.malformed.set(envelope.type, (this.malformed.get(envelope.type) ?? 0) + 1);
      this.log('warn', `[cluster] dropped a malformed ${envelope.type} from ${envelope.from}`);
      return true;
    }
    void (async () => {
      try {
        await route.handle(body, envelope.from);
      } catch (error) {
        this.failures++;
        this.log('error', `[cluster] applying ${envelope.type} from ${envelope.from} failed: ${(error as Error).message}`);
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
