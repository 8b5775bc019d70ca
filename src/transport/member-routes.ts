import { nodeIdOfRoutingId } from './routing-ids';

/**
 * Per member, the ROUTER connection its last answered request came on: the
 * one whose fragments get the members' reserved room (see FrameReader).
 * Connections are named as the ROUTER reader names them.
 */
export class MemberRoutes {
  private readonly routes = new Map<string, { route: string; ticket: number }>();
  private lastTicket = 0;

  constructor(
    /** The reader's name for a routing id, and back. */
    private readonly naming: { routingIdOf(name: string): string },
    /** Whether a node is a member (a peer this node links to). */
    private readonly isMember: (nodeId: string) => boolean,
    /** Releases what a connection left half-sent. */
    private readonly release: (name: string) => void,
  ) {}

  /** Taken when a request arrives, given to {@link note} once it is answered: tells which came last. */
  ticket(): number {
    return ++this.lastTicket;
  }

  /**
   * `member`'s request that arrived on `route` with `ticket` was answered:
   * that connection is now the member's, unless a request that arrived
   * later on another one was answered first (handlers finish in any order).
   * What the previous connection left half-sent is released, so that a
   * member opening connection after connection holds one message at most in
   * the reserved room, not one per connection.
   */
  note(member: string, route: string, ticket: number): void {
    const previous = this.routes.get(member);
    if (previous !== undefined && previous.ticket > ticket) return;
    if (previous !== undefined && previous.route !== route) this.release(previous.route);
    this.routes.set(member, { route, ticket });
  }

  /** `member` is gone: what its connection left half-sent is released. */
  forget(member: string): void {
    const previous = this.routes.get(member);
    if (previous === undefined) return;
    this.release(previous.route);
    this.routes.delete(member);
  }

  /** Whether frames read under `name` come from a member's current connection. */
  isCurrent(name: string): boolean {
    const member = nodeIdOfRoutingId(this.naming.routingIdOf(name));
    return this.isMember(member) && this.routes.get(member)?.route === name;
  }
}
