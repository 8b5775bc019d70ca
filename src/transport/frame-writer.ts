import { encodeEnvelope } from './codec';
import { PROTOCOL_VERSION, type Envelope } from './envelope';
import { framesOf, sendableFrameBytes, type FragmentLimits } from './fragments';
import type { OutgoingFrame } from './send-queue';
import type { RequestSigner } from './transport';

/** The fields of an envelope that say what it carries; the writer adds who sends it. */
export type EnvelopeFields = Omit<Envelope, 'v' | 'from' | 'inc'>;

/**
 * Writes this node's envelopes: stamped with its id and incarnation, a
 * request signed for its recipient, and cut into fragments when bigger
 * than a frame.
 */
export class FrameWriter {
  incarnation = 0;
  signer: RequestSigner | undefined;
  /** Numbers the messages sent in fragments, so that a receiver tells them apart. */
  private fragmented = 0;

  constructor(
    private readonly nodeId: string,
    private readonly limits: FragmentLimits,
  ) {}

  /**
   * One message of this node; a request to `signFor` carries its MAC.
   *
   * @throws TypeError (a body JSON cannot hold), FrameTooLargeError (over `maxMessageBytes`).
   */
  encode(fields: EnvelopeFields, signFor?: string): Buffer {
    const envelope: Envelope = { v: PROTOCOL_VERSION, from: this.nodeId, inc: this.incarnation, ...fields };
    const { signer } = this;
    const sign = signFor !== undefined && signer ? (signed: Buffer) => signer(signFor, signed) : undefined;
    return encodeEnvelope(envelope, this.limits.maxMessageBytes, sign);
  }

  /**
   * The frames that carry a message: itself, or its fragments (queue them
   * in one turn, in order). A whole message goes as its JSON text: the same
   * bytes, copied by zeromq.js, which spares the main thread a wake-up per
   * message to release the Buffer (see {@link OutgoingFrame}).
   */
  framesOf(message: Buffer): OutgoingFrame[] {
    if (message.length <= sendableFrameBytes(this.limits)) return [message.toString('utf8')];
    this.fragmented = (this.fragmented + 1) >>> 0;
    return framesOf(message, this.fragmented, this.limits);
  }
}
