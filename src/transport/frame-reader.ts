import { decodeEnvelope } from './codec';
import type { Envelope } from './envelope';
import { isFragment, PARTIAL_MAX_AGE_MS, Reassembler, type FragmentLimits } from './fragments';
import type { TrafficCounters } from './traffic-counters';

/**
 * Turns the frames a socket received into envelopes: whole frames are
 * decoded, fragments put back together per sender first (see fragments.ts).
 * What cannot be read is counted as malformed, with why.
 */
export class FrameReader {
  private readonly reassembler: Reassembler;
  /** Fragments of the senders `reserved` names: out of reach of the others' budget (a reader without `reserved` has none). */
  private readonly reservedReassembler: Reassembler | undefined;

  /** The senders of {@link reservedReassembler}, when only some are reserved. */
  private readonly reserved: ((sender: string) => boolean) | undefined;

  constructor(
    private readonly limits: FragmentLimits,
    private readonly traffic: TrafficCounters,
    private readonly dropped: (what: string) => void,
    /**
     * Senders whose fragments do not share the common budget (four messages
     * in all): on a socket any key holder reaches, the members', so that
     * half-sent messages of others never crowd theirs out; `every sender`
     * on sockets only peers reach. Each still holds one message at most, so
     * their number bounds what they hold.
     */
    reserved?: ((sender: string) => boolean) | 'every sender',
  ) {
    const ownSlots = { heldMessages: Number.POSITIVE_INFINITY };
    this.reassembler = new Reassembler(limits, reserved === 'every sender' ? ownSlots : {});
    this.reserved = typeof reserved === 'function' ? reserved : undefined;
    this.reservedReassembler = this.reserved && new Reassembler(limits, ownSlots);
  }

  /**
   * The envelope in the frame at `at` of a message that must have `count`
   * frames, from `sender` (the socket or routing id the frames came from);
   * undefined when there is none yet (more fragments to come) or none at all.
   */
  read(frames: Buffer[], count: number, at: number, sender: string): Envelope | undefined {
    const size = frames.reduce((total, frame) => total + frame.length, 0);
    let frame = frames.length === count ? frames[at] : undefined;
    const reassembler = this.reassemblerOf(sender);
    if (frame && isFragment(frame)) {
      const result = reassembler.accept(sender, frame);
      if (result === undefined) {
        // A fragment's bytes go in the total; the last one's also under the message's type.
        this.traffic.unreadable(size);
        return undefined;
      }
      if (!Buffer.isBuffer(result)) return this.malformed(size, `${result.dropped} from ${sender}`);
      frame = result;
    } else {
      const abandoned = reassembler.wholeFrame(sender);
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
    for (const sender of senders) {
      this.reassembler.forget(sender);
      this.reservedReassembler?.forget(sender);
    }
  }

  /** Drops what senders left half-sent for too long (see Reassembler.expire), counted as dropped. */
  expire(): void {
    const expired = this.reassembler.expire() + (this.reservedReassembler?.expire() ?? 0);
    if (expired > 0) this.dropped(`${expired} message(s) left half-sent for over ${PARTIAL_MAX_AGE_MS / 1000} s`);
  }

  /**
   * Where `sender`'s fragments go; what a sender that became (or stopped
   * being) reserved mid-message left half-sent moves with it (a member's
   * connection becomes current when one of its requests is answered, which
   * may come between two fragments of its next one).
   */
  private reassemblerOf(sender: string): Reassembler {
    if (!this.reservedReassembler || !this.reserved?.(sender)) {
      this.reservedReassembler?.moveTo(sender, this.reassembler);
      return this.reassembler;
    }
    this.reassembler.moveTo(sender, this.reservedReassembler);
    return this.reservedReassembler;
  }

  private malformed(size: number, what: string): undefined {
    this.traffic.unreadable(size);
    this.dropped(what);
    return undefined;
  }
}
