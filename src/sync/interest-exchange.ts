import type { Channel } from '../bus/message-bus';
import type { Sender } from '../bus/message-spec';
import { ownerOf } from '../membership/node-card';
import { encodeCollectionRef } from '../state/keys';
import type { CollectionRef } from '../state/realtime-store';
import { delay } from '../util/delay';
import { describeError } from '../util/describe-error';
import type { Log } from '../util/log';
import type { REALTIME_MESSAGES } from './messages';
import { PeerInterest } from './peer-interest';

/** Who must receive a change of a collection. */
export interface Recipients {
  /** Ids of the peers that may listen to it. */
  peers: string[];
  /** Whether that is every member: then one broadcast serves them all. */
  all: boolean;
}

/** Pages of a peer's `interest:list` asked at most (10 million collections); past it, the peer stays unknown. */
const MAX_INTEREST_PAGES = 1000;
/** Announcement attempts logged as warnings; later ones, every {@link LOG_EVERY}th. */
const WARNED_ATTEMPTS = 5;
const LOG_EVERY = 20;
/** Longest wait between two announcement attempts to a peer. */
const MAX_RETRY_DELAY_MS = 10_000;

export interface InterestExchangeOptions {
  /** The current members, with their incarnations. */
  peers: () => Sender[];
  /** How long an announcement waits for each peer. */
  ackTimeoutMs: number;
  log: Log;
  /** Set once the node left: nothing is sent any more. */
  stopped: () => boolean;
  /** Whether this node still listens to a collection (has rooms there). */
  listens: (ref: CollectionRef) => boolean;
  /** This node's current owner (id and incarnation): what peers told an older one may be out of date. */
  self: () => string;
}

/**
 * The collections nodes listen to, told and learnt: this node announces its
 * first room in a collection to every peer (and waits for each to record
 * it), withdraws its last one, and asks a peer whose list it lacks for it;
 * it records what peers tell it in a {@link PeerInterest}.
 */
export class InterestExchange {
  private readonly interest: PeerInterest;
  /**
   * The latest announcement of each collection this node listens to: a
   * retry of an older one stops (the latest asks every peer itself), so
   * that a collection left and listened to again while a peer refuses
   * does not keep one more chain of retries going each time.
   */
  private readonly announcements = new Map<string, number>();
  private lastAnnouncement = 0;
  /** Peer incarnations asked for their list (by this node's incarnation), answer pending. */
  private readonly asking = new Set<string>();

  constructor(
    private readonly channel: () => Channel<typeof REALTIME_MESSAGES>,
    private readonly options: InterestExchangeOptions,
  ) {
    this.interest = new PeerInterest(options.self);
  }

  /** `interest:add` from a peer. */
  added(peer: Sender, ref: CollectionRef): Record<string, never> {
    this.interest.add(peer, ref);
    return {};
  }

  /** `interest:remove` from a peer. */
  removed(peer: Sender, ref: CollectionRef): Record<string, never> {
    this.interest.remove(peer, ref);
    return {};
  }

  /**
   * Tells every peer this node listens to a collection now, and waits for
   * each to record it (bounded by `ackTimeoutMs`). Never rejects: a peer
   * that did not record it is logged and asked again in the background,
   * after a wait that doubles up to {@link MAX_RETRY_DELAY_MS} (a peer
   * refusing at once, busy, must not see every attempt in a few
   * milliseconds), for as long as it is a member and this node still
   * listens there: a member that never learnt it would never send this
   * node that collection's changes. If it is really gone, the heartbeat
   * evicts it.
   */
  announce(ref: CollectionRef): Promise<void> {
    const id = ++this.lastAnnouncement;
    this.announcements.set(encodeCollectionRef(ref.index, ref.collection), id);
    return this.announceTo(ref, id, this.peerIds(), 1);
  }

  private async announceTo(ref: CollectionRef, id: number, peers: string[], attempt: number): Promise<void> {
    if (peers.length === 0 || this.options.stopped()) return;
    const answers = await this.channel().requestEach(peers, 'interest:add', ref, this.options.ackTimeoutMs);
    const failed = answers.filter((answer) => answer.error !== undefined);
    if (failed.length === 0) return;
    if (attempt <= WARNED_ATTEMPTS || attempt % LOG_EVERY === 0) {
      for (const { peer, error } of failed) {
        this.options.log('warn', `${peer} did not record that this node listens to ${ref.index}/${ref.collection} (attempt ${attempt}): ${describeError(error)}`);
      }
    }
    void delay(Math.min(this.options.ackTimeoutMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS), { unref: true }).then(() => {
      if (!this.options.listens(ref) || this.announcements.get(encodeCollectionRef(ref.index, ref.collection)) !== id) return;
      const members = new Set(this.peerIds());
      return this.announceTo(ref, id, failed.map(({ peer }) => peer).filter((peer) => members.has(peer)), attempt + 1);
    });
  }

  /** Tells every peer this node no longer listens to a collection; a peer that misses it only sends what this node drops. */
  withdraw(ref: CollectionRef): void {
    this.announcements.delete(encodeCollectionRef(ref.index, ref.collection));
    const peers = this.peerIds();
    if (peers.length === 0 || this.options.stopped()) return;
    void this.channel().requestEach(peers, 'interest:remove', ref, this.options.ackTimeoutMs);
  }

  /**
   * The peers that may listen to the collection; asks the peers whose list
   * this node lacks for it (they count as listening meanwhile).
   */
  recipients(ref: CollectionRef): Recipients {
    const peers = this.options.peers();
    this.learn(peers);
    const listening = this.interest.listening(peers, ref);
    return { peers: listening.map((peer) => peer.id), all: listening.length > 0 && listening.length === peers.length };
  }

  /** Peers this node keeps a view of. */
  get views(): number {
    return this.interest.size;
  }

  peerIds(): string[] {
    return this.options.peers().map((peer) => peer.id);
  }

  private learn(peers: readonly Sender[]): void {
    // Views of peers gone (left, evicted, started again): a member's view
    // comes before it is a member only from its own announcements.
    if (this.interest.size > peers.length) this.interest.keepOnly(peers);
    const unknown = this.interest.unknown(peers);
    if (unknown.length === 0) return;
    for (const peer of unknown) {
      const key = `${ownerOf(peer)}\n${this.options.self()}`;
      if (this.asking.has(key)) continue;
      this.asking.add(key);
      this.listOf(peer)
        .catch((error: unknown) => this.options.log('debug', `${peer.id} did not list its collections (asked again with the next change): ${describeError(error)}`))
        .finally(() => this.asking.delete(key));
    }
  }

  /** Asks a peer for its list, page by page; it counts as listening to everything until the last page is in. */
  private async listOf(peer: Sender): Promise<void> {
    const askedAs = this.options.self();
    let after: string | undefined;
    let pages = 0;
    do {
      // A member answering pages without end would keep this node asking.
      if (++pages > MAX_INTEREST_PAGES) throw new Error(`${peer.id} answered over ${MAX_INTEREST_PAGES} pages`);
      const page = await this.channel().request(peer.id, 'interest:list', after === undefined ? {} : { after }, this.options.ackTimeoutMs);
      // A page must move on: a peer answering the same cursor would keep this loop going.
      if (page.next !== undefined && after !== undefined && page.next <= after) throw new Error(`${peer.id} answered a page that does not move on`);
      // This node joined again since it asked (or the peer did): asked again with the next change.
      if (!this.interest.merge(peer, page.collections, page.next === undefined, askedAs)) return;
      after = page.next;
    } while (after !== undefined && !this.options.stopped());
  }
}
