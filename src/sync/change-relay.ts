import type { Channel } from '../bus/message-bus';
import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';
import { chunksOf } from '../util/chunks';
import { FrameTooLargeError } from '../transport/errors';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import { MAX_DOCUMENTS_PER_MESSAGE, type REALTIME_MESSAGES } from './messages';
import type { Recipients } from './interest-exchange';
import type { ChangeNotice, PendingChange, RealtimeHost } from './realtime-host';

/** Changes made through this node, and what happened to those peers sent it. */
export interface ChangeCounts {
  /** Sent to the peers (split when big): one broadcast when every peer listens to their collection, else one copy to each that does. */
  sent: number;
  /** Of those sent, sent only to the peers listening to their collection (not every peer does). */
  addressed: number;
  /** Not sent: no peer listens to their collection. */
  unsent: number;
  /** Matched against this node's filters. */
  applied: number;
  /** Dropped at once: this node held no filter in their collection. */
  ignored: number;
  /** Whose delivery failed (logged). */
  failed: number;
  /** Documents made here too large to send even alone (over `maxMessageBytes`), or publications and requests alone that large: its peers' subscribers miss them (logged). */
  tooLarge: number;
}

/** Bytes left in a message for its envelope (type, sender, sequence, MAC) beside the change itself. */
const ENVELOPE_ALLOWANCE = 1024;

export interface ChangeRelayOptions {
  /** The channel of the realtime messages. */
  channel: () => Channel<typeof REALTIME_MESSAGES>;
  /** The peers that may listen to the collection (see InterestExchange). */
  recipients: (ref: CollectionRef) => Recipients;
  /** Whether this node stopped sending. */
  stopped: () => boolean;
  log: Log;
}

/**
 * The changes between this node and its peers: one made here is sent to
 * the peers that listen to its collection (one broadcast when they all do),
 * to none when none does; one a peer made is matched here against this
 * node's own filters, after the earlier changes of its collection.
 */
export class ChangeRelay {
  readonly counts: ChangeCounts = { sent: 0, addressed: 0, unsent: 0, applied: 0, ignored: 0, failed: 0, tooLarge: 0 };
  /**
   * Changes of one collection are matched one after another, in the order
   * they came: reading and writing a document's "matched before" rooms
   * must not interleave between two changes of that document.
   */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly host: RealtimeHost,
    private readonly options: ChangeRelayOptions,
  ) {}

  /**
   * Sends a change made through this node to the peers listening to its
   * collection, at most {@link MAX_DOCUMENTS_PER_MESSAGE} documents per
   * message; when none listens, the change is counted as unsent and its
   * request never serialized (a write nobody listens to costs what it
   * costs one Kuzzle). The change is encoded before this returns: later
   * changes to the caller's objects (pipes, the response) do not travel.
   */
  forward(pending: PendingChange): Promise<void> {
    if (this.options.stopped()) return Promise.resolve();
    const to = this.options.recipients(pending);
    if (to.peers.length === 0) {
      this.counts.unsent++;
      return Promise.resolve();
    }
    this.counts.sent++;
    if (!to.all) this.counts.addressed++;
    const change: ChangeNotice = { ...pending, request: pending.request() };
    if (change.documents.length <= MAX_DOCUMENTS_PER_MESSAGE) return this.publish(to, change);
    return Promise.all(chunksOf(change.documents, MAX_DOCUMENTS_PER_MESSAGE).map((documents) => this.publish(to, { ...change, documents }))).then(() => undefined);
  }

  /** A peer's change: matched here, after the earlier changes of its collection, unless this node has no filter there. */
  receive(change: ChangeNotice): Promise<void> | undefined {
    const key = encodeCollectionRef(change.index, change.collection);
    const previous = this.queues.get(key);
    if (previous) return this.queue(key, previous.then(() => this.apply(change)));
    // Nothing queued: the usual case costs no queue entry when there is nothing to match.
    const applying = this.apply(change);
    return applying && this.queue(key, applying);
  }

  private apply(change: ChangeNotice): Promise<void> | undefined {
    let applying: Promise<void> | undefined;
    try {
      applying = this.host.applyChange(change);
    } catch (error) {
      // Thrown at once (a request the host cannot rebuild): failed like any
      // delivery, or the collection's queue would hold a rejection that
      // every later change of it chains onto, and none would be matched.
      applying = Promise.reject(error);
    }
    if (!applying) {
      this.counts.ignored++;
      return undefined;
    }
    this.counts.applied++;
    return applying.catch((error: unknown) => {
      this.counts.failed++;
      this.options.log('warn', `change of ${change.index}/${change.collection} not delivered here: ${describeError(error)}`);
    });
  }

  private queue(key: string, run: Promise<void>): Promise<void> {
    this.queues.set(key, run);
    const done = (): void => {
      if (this.queues.get(key) === run) this.queues.delete(key);
    };
    run.then(done, done);
    return run;
  }

  /**
   * Sends one message; one larger than a message may be (big documents:
   * Kuzzle sends each one's whole source) goes in parts (see
   * {@link publishInParts}). Either is handed to the transport before this
   * returns (it refuses a message too large at once), so that the parts
   * keep the change's place among this node's messages: before the next
   * chunk of a change of more than {@link MAX_DOCUMENTS_PER_MESSAGE}
   * documents, and before a later change of the same collection. No
   * sequence number is taken by a message that was not sent, so peers
   * would see no gap: a document too large alone is lost for them,
   * counted and thrown (the caller logs it).
   */
  private publish(to: Recipients, change: ChangeNotice): Promise<void> {
    if (this.options.stopped()) return Promise.resolve();
    try {
      return this.send(to, change);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) return Promise.reject(error);
      return this.publishInParts(to, change, error.maxBytes);
    }
  }

  /**
   * The change's documents in as many messages as their sizes need, in
   * their order, all handed over before this returns. Measured as the
   * transport encodes them (UTF-8 JSON), with room left for the envelope.
   */
  private publishInParts(to: Recipients, change: ChangeNotice, maxBytes: number): Promise<void> {
    const room = maxBytes - Buffer.byteLength(JSON.stringify({ ...change, documents: [] })) - ENVELOPE_ALLOWANCE;
    if (change.documents.length === 0 || room <= 0) {
      // A publication, or a change whose request alone (its body, volatile data) fills a message: nothing to split.
      this.counts.tooLarge++;
      return Promise.reject(new FrameTooLargeError(`change:documents (${change.action} of ${change.index}/${change.collection}, larger than a message without its documents)`, maxBytes + 1, maxBytes));
    }
    const parts: Array<ChangeNotice['documents']> = [];
    let part: ChangeNotice['documents'] = [];
    let bytes = 0;
    let alone = 0;
    for (const doc of change.documents) {
      const size = Buffer.byteLength(JSON.stringify(doc)) + 1;
      if (size > room) {
        alone++;
        continue;
      }
      if (bytes + size > room) {
        parts.push(part);
        part = [];
        bytes = 0;
      }
      part.push(doc);
      bytes += size;
    }
    if (part.length > 0) parts.push(part);
    this.counts.tooLarge += alone;
    const sent = Promise.all(parts.map((documents) => this.sendPart(to, { ...change, documents })));
    if (alone === 0) return sent.then(() => undefined);
    return sent.then(() => {
      throw new FrameTooLargeError(`change:documents (${alone} document(s) of ${change.index}/${change.collection} larger than a message alone)`, maxBytes + 1, maxBytes);
    });
  }

  /** One part of a split change; one the transport still refuses (its envelope larger than allowed for) is counted with the documents too large. */
  private sendPart(to: Recipients, part: ChangeNotice): Promise<void> {
    try {
      return this.send(to, part);
    } catch (error) {
      if (error instanceof FrameTooLargeError) this.counts.tooLarge += part.documents.length;
      return Promise.reject(error);
    }
  }

  /** @throws at once when the transport refuses the message (see `Transport.publish`). */
  private send(to: Recipients, change: ChangeNotice): Promise<void> {
    // A broadcast reaches every peer in one send; a copy per peer spares the others receiving and decoding it.
    if (to.all) return this.options.channel().publish('change:documents', change);
    return this.options.channel().publishTo(to.peers, 'change:documents', change);
  }
}
