import { FRAGMENT_MARK } from './fragments';

/**
 * Messages sent on the PUB socket to one peer only. They are two frames: a
 * topic, `@<peer id>\n<seq>`, then the message as a broadcast carries it.
 * libzmq filters on the publisher's side: a peer whose SUB did not
 * subscribe to a topic's prefix never receives its frames (they are not
 * even written to its connection). Sharing the PUB socket and its
 * connections with broadcasts keeps both kinds in the order they were
 * sent, to each peer. `seq` numbers what the sender addressed to that one
 * peer (its own sequence, beside the broadcasts'), so a receiver sees a
 * gap on either.
 */

/** The prefix of every topic addressed to `peerId`; the newline ends the id, so that no id is read as the prefix of another. */
export function topicPrefixOf(peerId: string): Buffer {
  return Buffer.from(`@${peerId}\n`, 'utf8');
}

/** The topic frame of the `seq`-th message addressed to `peerId`. */
export function topicFrame(peerId: string, seq: number): Buffer {
  return Buffer.from(`@${peerId}\n${seq}`, 'utf8');
}

/** Longest sequence number a topic may carry: a safe integer has 16 digits. */
const MAX_SEQ_DIGITS = 16;

/**
 * The sequence number of a topic addressed to the node whose prefix is
 * `prefix`; undefined when the topic is for another node or malformed.
 */
export function seqOfTopic(topic: Buffer, prefix: Buffer): number | undefined {
  if (topic.length <= prefix.length || topic.length > prefix.length + MAX_SEQ_DIGITS) return undefined;
  if (!topic.subarray(0, prefix.length).equals(prefix)) return undefined;
  const digits = topic.toString('latin1', prefix.length);
  if (!/^[1-9][0-9]*$/.test(digits)) return undefined;
  const seq = Number(digits);
  return Number.isSafeInteger(seq) ? seq : undefined;
}

/**
 * What a node's SUB subscribes to on a peer's PUB: every broadcast (an
 * envelope is a JSON object, a fragment starts with its mark) and what is
 * addressed to this node.
 */
export function subscriptionsOf(nodeId: string): Buffer[] {
  return [Buffer.from('{'), Buffer.from([FRAGMENT_MARK]), topicPrefixOf(nodeId)];
}

/**
 * Numbers the messages this node addresses to each peer, one after another.
 * A peer met for the first time, or again after being forgotten
 * (disconnected), starts above every number handed out so far: a receiver
 * that kept its count of this node sees a gap, never a replay to drop.
 */
export class AddressedSequences {
  private readonly last = new Map<string, number>();
  private highest = 0;

  /** The next number for a message to `peerId`. */
  take(peerId: string): number {
    const seq = (this.last.get(peerId) ?? this.highest) + 1;
    this.last.set(peerId, seq);
    if (seq > this.highest) this.highest = seq;
    return seq;
  }

  forget(peerId: string): void {
    this.last.delete(peerId);
  }
}
