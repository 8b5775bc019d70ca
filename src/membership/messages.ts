import { broadcast, parseEmpty, request } from '../bus/message-spec';
import { isId } from '../transport/codec';
import { isObject } from '../util/guards';
import { parseNodeCard, type NodeCard } from './node-card';

const parseCardBody = (body: unknown): { card: NodeCard } | undefined => {
  const card = isObject(body) ? parseNodeCard(body.card) : undefined;
  return card ? { card } : undefined;
};

const parseNodeRef = (body: unknown): { id: string; incarnation: number } | undefined =>
  isObject(body) && isId(body.id) && typeof body.incarnation === 'number' && Number.isSafeInteger(body.incarnation)
    ? { id: body.id, incarnation: body.incarnation }
    : undefined;

const parseMemberCheck = (body: unknown): { member: boolean } | undefined =>
  isObject(body) && typeof body.member === 'boolean' ? { member: body.member } : undefined;

/** The membership protocol. */
export const MEMBERSHIP_MESSAGES = {
  /** A node asks to become a member; the answer carries the peer's card. The only message strangers may send. */
  join: request(parseCardBody, parseCardBody, 'anyone'),
  /** "Do you count me as a member, with this incarnation?": asked after this node stalled. */
  'member:check': request(parseEmpty, parseMemberCheck, 'anyone'),
  heartbeat: broadcast(parseEmpty),
  /** A clean leave: peers forget the sender at once. */
  'node:leave': broadcast(parseEmpty),
  /** The sender stopped hearing this node (incarnation) and purged it. A suspicion for the others. */
  'node:evicted': broadcast(parseNodeRef),
  /**
   * "You were evicted under this incarnation: join again." Relayed by a
   * member that still hears the accused, or sent by a node that evicted it
   * and finds it again (then not a member: the accuser must be registered).
   */
  'node:accused': request(parseNodeRef, parseEmpty, 'anyone'),
} as const;
