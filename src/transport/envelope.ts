/** Version of the wire protocol; a node drops frames of any other version. */
export const PROTOCOL_VERSION = 1;

/**
 * What travels between nodes, on PUB/SUB (broadcasts) and DEALER/ROUTER
 * (requests and their replies). The transport only checks this envelope; the
 * membership and sync layers validate `body` for each `type` they handle.
 */
export interface Envelope {
  /** Protocol version, {@link PROTOCOL_VERSION}. */
  v: number;
  /** Message type, e.g. "heartbeat", "room:add", "notify:document". */
  type: string;
  /** Id of the sending node. */
  from: string;
  /**
   * Per-sender sequence number of broadcasts (starts at 1, +1 per publish), so
   * a receiver can see a gap; 0 on requests and replies.
   */
  seq: number;
  /** Request id, set on a request; its reply carries it in `re`. */
  rid?: string;
  /** On a reply: the `rid` of the request it answers. */
  re?: string;
  /** On a reply: set when the handler failed; `body` is then `{ message }`. */
  error?: boolean;
  body: unknown;
}

/** ZeroMQ endpoints of a node, as peers connect to them: `tcp://host:port`. */
export interface NodeAddresses {
  router: string;
  pub: string;
}
