import { nodeIdOfRoutingId } from './routing-ids';

/**
 * Per member, the ROUTER connection its last answered request came on: the
 * one whose fragments get the members' reserved room (see FrameReader).
 * Connections are named as the ROUTER reader names them.
 */
export class MemberRoutes {
  private readonly routes = new Map<string, string>();

  constructor(
    /** The reader's name for a routing id, and back. */
    private readonly naming: { routingIdOf(name: string): string },
    /** Whether a node is a member (a peer this node links to). */
    private readonly isMember: (nodeId: string) => boolean,
    /** Releases what a connection left half-sent. */
    private readonly release: (name: string) => void,
  ) {}

  /**
   * `member`'s connection is now `route`, or it is gone (undefined): what
   * its previous connection left half-sent is released, so that a member
   * opening connection after connection holds one message at most in the
   * reserved room, not one per connection.
   */
  note(member: string, route: string | undefined): void {
    const previous = this.routes.get(member);
    if (previous === route) return;
    if (previous !== undefined) this.release(previous);
    if (route === undefined) this.routes.delete(member);
    else this.routes.set(member, route);
  }

  /** Whether frames read under `name` come from a member's current connection. */
  isCurrent(name: string): boolean {
    const member = nodeIdOfRoutingId(this.naming.routingIdOf(name));
    return this.isMember(member) && this.routes.get(member) === name;
  }
}
