import { decodeEnvelope } from './codec';
import type { Envelope } from './envelope';
import { isFragment, Reassembler, type FragmentLimits } from './fragments';
import type { TrafficCounters } from './traffic-counters';

/**
 * Turns the frames a socket received into envelopes: whole frames are
 * decoded, fragments put back together per sender first (see fragments.ts).
 * What cannot be read is counted as malformed, with why.
 */
export class FrameReader {
  private readonly reassembler: Reassembler;

  constructor(
    private readonly limits: FragmentLimits,
    private readonly traffic: TrafficCounters,
    private readonly dropped: (what: string) => void,
  ) {
    this.reassembler = new Reassembler(limits);
  }

  /**
   * The envelope in the frame at `at` of a message that must have `count`
   * frames, from `sender` (the socket or routing id the frames came from);
   * undefined when there is none yet (more fragments to come) or none at all.
   */
  read(frames: Buffer[], count: number, at: number, sender: string): Envelope | undefined {
    const size = frames.reduce((total, frame) => total + frame.length, 0);
    let frame = frames.length === count ? frames[at] : undefined;
    if (frame && isFragment(frame)) {
      const result = this.reassembler.accept(sender, frame);
      if (result === undefined) {
        // A fragment's bytes go in the total; the last one's also under the message's type.
        this.traffic.unreadable(size);
        return undefined;
      }
      if (!Buffer.isBuffer(result)) return this.malformed(size, `${result.dropped} from ${sender}`);
      frame = result;
    } else {
      const abandoned = this.reassembler.wholeFrame(sender);
      if (abandoned) this.dropped(`${abandoned} by ${sender}`);
    }
    const envelope = frame ? decodeEnvelope(frame, this.limits.maxMessageBytes) : undefined;
    if (!envelope) return this.malformed(size, `${frames.length} frame(s), ${size} bytes from ${sender}`);
    // Replies are counted under their request's type.
    this.traffic.bytes('received', envelope.type.replace(/:reply$/, ''), size);
    return envelope;
  }

  /** The senders are gone: the fragments they left are released. */
  forget(senders: readonly string[]): void {
    for (const sender of senders) this.reassembler.forget(sender);
  }

  private malformed(size: number, what: string): undefined {
    this.traffic.unreadable(size);
    this.dropped(what);
    return undefined;
  }
}
