import type { NodeCard } from './node-card';

/** A peer as this node sees it. */
export interface Peer {
  card: NodeCard;
  /** When the last message was received from it (any message is proof of life), on the monotonic `clock` (util/clock): for durations only. */
  lastSeen: number;
  /** Epoch ms when it became a member for this node. */
  since: number;
  /** When its connection was closed by the other side (on the monotonic `clock`), if it was and nothing was heard since. */
  connectionLostAt?: number;
}

/** Why a peer left this node's view. */
export type PeerRemovalReason = 'timeout' | 'connectionLost' | 'left' | 'replaced';

export interface MembershipEvents {
  /** `returning`: this node had removed it before (it may have missed what happened meanwhile). */
  'peer:added': [Peer, { returning: boolean }];
  /** The card as it was known: its incarnation names the Redis entries to purge. */
  'peer:removed': [NodeCard, PeerRemovalReason];
  /** A member joined again under a new incarnation (it rewrites its own state). */
  'peer:reincarnated': [NodeCard, NodeCard];
  /**
   * This node was presumed dead by a peer under the incarnation given (why,
   * incarnation): it must join again under a new one, unless it already did.
   */
  'self:suspect': [string, number];
}

/** How the parts of membership tell the outside what happened. */
export type EmitMembershipEvent = <E extends keyof MembershipEvents>(event: E, ...args: MembershipEvents[E]) => void;
