import type { TransportDropReason, TransportStats } from './transport';
import { RecentMap } from '../util/recent-map';

/** Message types counted separately; a peer sending made-up types cannot grow the counters without bound. */
const MAX_TYPES_COUNTED = 100;
/** Where received bytes of types this node does not handle are counted. */
const UNKNOWN_TYPE = 'unknown';
/** Peers whose missed messages are kept (live or gone). */
const MAX_PEERS_WITH_GAPS = 256;

/** Frames a transport drops itself; refused connections are counted per handshake (see HandshakeCounts). */
export type FrameDropReason = Exclude<TransportDropReason, 'unauthenticated'>;

type Totals = Pick<TransportStats, 'published' | 'addressed' | 'received' | 'requestsSent' | 'requestsReceived' | 'bytesSent' | 'bytesReceived'>;

/** What went through a transport's sockets, for status and metrics. */
export class TrafficCounters {
  readonly totals: Totals = { published: 0, addressed: 0, received: 0, requestsSent: 0, requestsReceived: 0, bytesSent: 0, bytesReceived: 0 };
  private readonly dropped: Record<FrameDropReason, number> = { malformed: 0, foreignSender: 0, replayed: 0 };
  private readonly bytesSent = new Map<string, number>();
  private readonly bytesReceived = new Map<string, number>();
  /**
   * Messages missed per peer, kept after the peer is gone so that status
   * shows them; bounded, since node ids are new at every start (the peers
   * that missed most recently stay).
   */
  private readonly gaps = new RecentMap<string, number>(MAX_PEERS_WITH_GAPS);

  /** Whether a received type is one this node handles; until told, every type is. */
  private isKnown: (type: string) => boolean = () => true;

  /**
   * Received bytes are counted under their type only for the types `known`
   * accepts, the others under `unknown`: a key holder sending made-up types
   * would otherwise take every slot, and the real types would be counted
   * under `other` from then on.
   */
  countTypes(known: (type: string) => boolean): void {
    this.isKnown = known;
  }

  /** Counts bytes per message type and in total; types are bounded (unknown ones past the bound share one key). */
  bytes(direction: 'sent' | 'received', type: string, bytes: number): void {
    const byType = direction === 'sent' ? this.bytesSent : this.bytesReceived;
    if (direction === 'sent') this.totals.bytesSent += bytes;
    else this.totals.bytesReceived += bytes;
    const counted = direction === 'sent' || this.isKnown(type) ? type : UNKNOWN_TYPE;
    const key = byType.has(counted) || byType.size < MAX_TYPES_COUNTED ? counted : 'other';
    byType.set(key, (byType.get(key) ?? 0) + bytes);
  }

  /** Bytes of a frame that could not be read: in the total, not under a type. */
  unreadable(bytes: number): void {
    this.totals.bytesReceived += bytes;
  }

  drop(reason: FrameDropReason): void {
    this.dropped[reason] += 1;
  }

  /**
   * `missed` messages of `peerId` lost in one gap: added to the peer's
   * total, which never goes down (a Prometheus counter), whichever
   * connection to the peer they were lost on.
   */
  gap(peerId: string, missed: number): void {
    this.gaps.set(peerId, (this.gaps.get(peerId) ?? 0) + missed);
  }

  snapshot(): Pick<TransportStats, keyof Totals | 'bytesByType' | 'gaps'> & { dropped: Record<FrameDropReason, number> } {
    return {
      ...this.totals,
      dropped: { ...this.dropped },
      bytesByType: { sent: Object.fromEntries(this.bytesSent), received: Object.fromEntries(this.bytesReceived) },
      gaps: Object.fromEntries(this.gaps),
    };
  }
}
