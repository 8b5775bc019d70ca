import { clock } from '../util/clock';

/**
 * Messages bigger than a frame travel as fragments: frames that start with a
 * zero byte (a JSON envelope never does), then the message number (uint32),
 * the fragment's index and the fragment count (uint16 each), then a slice of
 * the message. Frames stay within `maxFrameBytes`, which ZeroMQ enforces
 * before buffering anything; a message within `maxMessageBytes`.
 */
export const FRAGMENT_MARK = 0x00;
const HEADER_BYTES = 9;
/**
 * Room left in every frame sent for what CURVE wraps around it: libzmq
 * checks `maxFrameBytes` (ZMQ_MAXMSGSIZE) against the encrypted frame, 33
 * bytes bigger than ours, and drops the connection of a peer that exceeds it.
 */
const FRAMING_SLACK = 256;
/** The smallest `maxFrameBytes` a node may have (the option's minimum). */
const SMALLEST_FRAME_BYTES = 1024;

/**
 * Most fragments a message within `maxMessageBytes` can take from any peer:
 * counted with the smallest frames a peer may send, not this node's own
 * (a peer with smaller frames sends more of them for the same message;
 * the bytes, not the count, bound what a message holds).
 */
const SMALLEST_CHUNK_BYTES = SMALLEST_FRAME_BYTES - FRAMING_SLACK - HEADER_BYTES;
const mostFragments = (maxMessageBytes: number): number => Math.min(0xffff, Math.ceil(maxMessageBytes / SMALLEST_CHUNK_BYTES));

/** The largest frame this node sends: what a peer with the same `maxFrameBytes` accepts, CURVE included. */
export const sendableFrameBytes = (limits: FragmentLimits): number => limits.maxFrameBytes - FRAMING_SLACK;

export interface FragmentLimits {
  maxFrameBytes: number;
  maxMessageBytes: number;
}

/** Fragments of one message at most: their count travels as a uint16. */
const MAX_FRAGMENTS = 0xffff;

/** The largest message that frames of `maxFrameBytes` can carry in fragments. */
export const largestFragmentedMessage = (maxFrameBytes: number): number => MAX_FRAGMENTS * (maxFrameBytes - FRAMING_SLACK - HEADER_BYTES);

/** Whether a frame is a fragment rather than a whole envelope. */
export function isFragment(frame: Buffer): boolean {
  return frame.length > 0 && frame[0] === FRAGMENT_MARK;
}

/** The frames that carry `message`: itself when it fits in one frame, its fragments otherwise. */
export function framesOf(message: Buffer, messageId: number, limits: FragmentLimits): Buffer[] {
  if (message.length <= sendableFrameBytes(limits)) return [message];
  const chunk = sendableFrameBytes(limits) - HEADER_BYTES;
  const count = Math.ceil(message.length / chunk);
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = FRAGMENT_MARK;
    header.writeUInt32BE(messageId >>> 0, 1);
    header.writeUInt16BE(index, 5);
    header.writeUInt16BE(count, 7);
    frames.push(Buffer.concat([header, message.subarray(index * chunk, (index + 1) * chunk)]));
  }
  return frames;
}

interface Partial {
  id: number;
  count: number;
  parts: Buffer[];
  bytes: number;
  /** When its first fragment came. */
  startedAt: number;
}

/** Senders at most keeping a message half-sent on one socket (a ROUTER hears many). */
const MAX_PARTIALS = 1000;
/**
 * A message whose fragments took longer than this is abandoned: a sender
 * queues them in a row, in one turn, and a sender that never finishes one
 * must not hold its share of the budget for good.
 */
export const PARTIAL_MAX_AGE_MS = 30_000;

/**
 * Puts fragments back together, per sender (each sends its fragments in a
 * row: a gap or a new message abandons the one in progress). What it holds
 * is bounded: one message per sender, none above `maxMessageBytes`, all
 * of them together within `heldMessages` such messages, none older than
 * {@link PARTIAL_MAX_AGE_MS}.
 */
export class Reassembler {
  private readonly partials = new Map<string, Partial>();
  private held = 0;
  /** Bytes held in all, at most. */
  private readonly maxHeld: number;

  constructor(
    private readonly limits: FragmentLimits,
    /** `heldMessages`: messages of `maxMessageBytes` held in all, at most (4). */
    { heldMessages = 4 }: { heldMessages?: number } = {},
    /** A monotonic clock: a step of the wall clock must not expire live messages. */
    private readonly now: () => number = () => clock.now(),
  ) {
    this.maxHeld = heldMessages * limits.maxMessageBytes;
  }

  /**
   * Takes a fragment from `sender`. Returns the whole message once its last
   * fragment is in; `undefined` while more are expected; a reason when it
   * dropped the fragment or the message it belonged to.
   */
  accept(sender: string, frame: Buffer): Buffer | undefined | { dropped: string } {
    if (frame.length <= HEADER_BYTES) return this.abandon(sender, 'a fragment without content');
    const id = frame.readUInt32BE(1);
    const index = frame.readUInt16BE(5);
    const count = frame.readUInt16BE(7);
    const chunk = frame.subarray(HEADER_BYTES);
    if (count < 2 || index >= count) return this.abandon(sender, 'a fragment with an impossible header');
    // Every fragment but the last is a whole chunk, never smaller than the smallest frames make: tiny ones would hold objects, not bytes.
    if (index < count - 1 && chunk.length < SMALLEST_CHUNK_BYTES) return this.abandon(sender, 'a fragment smaller than any peer sends');
    this.expire();
    let partial = this.partials.get(sender);
    if (index === 0) {
      if (partial) this.release(sender, partial);
      if (count > mostFragments(this.limits.maxMessageBytes)) {
        return { dropped: `a message of ${count} fragments, over maxMessageBytes` };
      }
      partial = { id, count, parts: [], bytes: 0, startedAt: this.now() };
      if (this.partials.size >= MAX_PARTIALS) this.dropOldest();
      this.partials.set(sender, partial);
    } else if (!partial || partial.id !== id || partial.count !== count || partial.parts.length !== index) {
      return this.abandon(sender, 'a fragment out of sequence (one was lost)');
    }
    if (partial.bytes + chunk.length > this.limits.maxMessageBytes || this.held + chunk.length > this.maxHeld) {
      return this.abandon(sender, 'fragments over maxMessageBytes');
    }
    partial.parts.push(chunk);
    partial.bytes += chunk.length;
    this.held += chunk.length;
    if (partial.parts.length < count) return undefined;
    this.release(sender, partial);
    return Buffer.concat(partial.parts);
  }

  /** A whole frame arrived from `sender`: any message it left half-sent is abandoned. */
  wholeFrame(sender: string): string | undefined {
    const partial = this.partials.get(sender);
    if (!partial) return undefined;
    this.release(sender, partial);
    return 'a message left half-sent';
  }

  /**
   * Moves what `sender` left half-sent here to `other` (its fragments now go
   * there, see FrameReader), within `other`'s budget; dropped otherwise.
   */
  moveTo(sender: string, other: Reassembler): void {
    const partial = this.partials.get(sender);
    if (!partial) return;
    this.release(sender, partial);
    if (other.held + partial.bytes > other.maxHeld) return;
    if (other.partials.size >= MAX_PARTIALS) other.dropOldest();
    other.forget(sender);
    // Restarted there: the partials stay in the order of their times, which expiry counts on.
    other.partials.set(sender, { ...partial, startedAt: other.now() });
    other.held += partial.bytes;
  }

  /** `sender` is gone (its link dropped): what it left half-sent would never be completed nor abandoned. */
  forget(sender: string): void {
    const partial = this.partials.get(sender);
    if (partial) this.release(sender, partial);
  }

  private abandon(sender: string, why: string): { dropped: string } {
    this.forget(sender);
    return { dropped: why };
  }

  private release(sender: string, partial: Partial): void {
    this.held -= partial.bytes;
    this.partials.delete(sender);
  }

  private dropOldest(): void {
    const [oldest] = this.partials;
    if (oldest) this.release(oldest[0], oldest[1]);
  }

  /**
   * Drops the messages half-sent for longer than {@link PARTIAL_MAX_AGE_MS}
   * (as fragments come, and on a timer for a socket gone quiet, whose
   * senders' links never drop, as a ROUTER's). Returns how many. Partials
   * are kept in the order they started (or were moved here): the expired
   * ones come first.
   */
  expire(): number {
    const oldestKept = this.now() - PARTIAL_MAX_AGE_MS;
    let dropped = 0;
    for (const [sender, partial] of this.partials) {
      if (partial.startedAt >= oldestKept) break;
      this.release(sender, partial);
      dropped++;
    }
    return dropped;
  }
}
