import { randomBytes } from 'crypto';

/**
 * The routing id of a DEALER: its node's id, then a random part new for
 * each connection. A peer's ROUTER reads the node id back to check every
 * request's `from`. The random part keeps a key holder from taking over a
 * member's connection (the ROUTER hands a routing id over to whoever
 * connects with it last): under CURVE the routing id travels encrypted, so
 * only its node knows it. Node ids are at most 200 characters: with the
 * 25 added, within ZeroMQ's 255 bytes.
 */
export function newRoutingId(nodeId: string): string {
  return `${nodeId}${SEPARATOR}${randomBytes(12).toString('hex')}`;
}

/** The node id a routing id names (the whole id when it has no random part). */
export function nodeIdOfRoutingId(routingId: string): string {
  const at = routingId.lastIndexOf(SEPARATOR);
  return at < 0 ? routingId : routingId.slice(0, at);
}

/** Never in the random part (hex), so the last one ends the node id, whatever the id holds. */
const SEPARATOR = '/';
