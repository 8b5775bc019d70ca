/**
 * Version of the wire protocol; a node drops frames of any other version,
 * and does not start next to live nodes of another one.
 * 2: incarnation (`inc`) on every envelope, error replies carry a code.
 * 3: requests carry the sender's MAC (`mac`); cards carry the node's
 *    identity key and, with CURVE, their seal.
 * 4: messages addressed to one peer on the PUB socket, behind a topic
 *    frame (addressing.ts); a SUB subscribes to broadcasts and its own topic.
 * 5: a card is live while its alive key exists in Redis (expired on Redis'
 *    clock), not until an expiry written on its node's clock; a DEALER's
 *    routing id is its node id and a random part (routing-ids.ts);
 *    `interest:list` answers in pages.
 */
export const PROTOCOL_VERSION = 5;

/**
 * What travels between nodes, on PUB/SUB (broadcasts) and DEALER/ROUTER
 * (requests and their replies). The transport only checks this envelope; the
 * message bus validates `body` against the type's declared parser.
 */
export interface Envelope {
  /** Protocol version, {@link PROTOCOL_VERSION}. */
  v: number;
  /** Message type, e.g. "heartbeat", "interest:add", "change:documents". */
  type: string;
  /** Id of the sending node. */
  from: string;
  /**
   * Incarnation of the sender: a number that grows each time the node
   * starts or joins again after being presumed dead (0 before it has one).
   */
  inc: number;
  /**
   * Per-sender sequence number of broadcasts (starts at 1, +1 per publish), so
   * a receiver can see a gap; 0 on requests, replies and messages addressed
   * to one peer (their number is in their topic, see addressing.ts).
   */
  seq: number;
  /** Request id, set on a request; its reply carries it in `re`. */
  rid?: string;
  /** On a reply: the `rid` of the request it answers. */
  re?: string;
  /** On a reply: set when the handler failed; `body` is then a {@link ErrorBody}. */
  error?: boolean;
  /** On a request: the sender's MAC, which only the node `from` names can make; it closes the frame and covers the rest of it. */
  mac?: string;
  /** Set on decoding, never sent: the bytes `mac` covers (the frame without it). */
  signed?: Buffer;
  body: unknown;
}

/** Body of an error reply. */
export interface ErrorBody {
  code: string;
  message: string;
}

/** How peers reach a node: its ZeroMQ endpoints (`tcp://host:port`), and the CURVE key it serves with. */
export interface NodeAddresses {
  router: string;
  pub: string;
  /** Public key the node's ROUTER and PUB serve with (Z85); absent when the cluster runs without CURVE. */
  curveKey?: string;
}
