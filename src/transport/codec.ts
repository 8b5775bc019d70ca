import { PROTOCOL_VERSION, type Envelope } from './envelope';
import { FrameTooLargeError } from './errors';

/**
 * Default largest frame a node accepts (1 MiB), see the `maxFrameBytes`
 * option: ZeroMQ refuses a bigger one before buffering it. Bigger messages
 * travel in fragments (fragments.ts).
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Default largest message, whole or put back together from fragments (16 MiB); see `maxMessageBytes`. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Longest accepted `type`, `from`, `rid` and `re` strings. Node ids are also
 * ZeroMQ routing ids, which libzmq limits to 255 bytes.
 */
export const MAX_ID_LENGTH = 200;

/**
 * Serialises an envelope to a single UTF-8 JSON frame.
 *
 * @throws TypeError when `body` cannot be serialised (cycle, BigInt), and
 * FrameTooLargeError when the frame would exceed `maxBytes`: peers would
 * drop it, so the sender must hear about it instead.
 */
export function encodeEnvelope(envelope: Envelope, maxBytes = DEFAULT_MAX_MESSAGE_BYTES, sign?: (signed: Buffer) => string | undefined): Buffer {
  // `mac` closes the frame (below) and `signed` is never sent.
  const fields: Partial<Envelope> = { ...envelope };
  delete fields.mac;
  delete fields.signed;
  let frame = Buffer.from(JSON.stringify(fields), 'utf8');
  const mac = sign?.(frame);
  // The MAC closes the frame: what it covers is the frame without it, byte for byte (see decodeEnvelope).
  if (mac !== undefined) frame = Buffer.concat([frame.subarray(0, frame.length - 1), Buffer.from(`,"mac":${JSON.stringify(mac)}}`, 'utf8')]);
  if (frame.length > maxBytes) throw new FrameTooLargeError(envelope.type, frame.length, maxBytes);
  return frame;
}

/** The bytes a MAC closing `frame` covers: the frame as it was before the MAC was added, or undefined when no MAC closes it. */
function signedPart(frame: Buffer, mac: string): Buffer | undefined {
  const suffix = Buffer.from(`,"mac":${JSON.stringify(mac)}}`, 'utf8');
  if (frame.length <= suffix.length || !frame.subarray(frame.length - suffix.length).equals(suffix)) return undefined;
  return Buffer.concat([frame.subarray(0, frame.length - suffix.length), Buffer.from('}')]);
}

/**
 * Parses and checks one frame. Never throws: anything that is not a valid
 * envelope of this protocol version yields `undefined`, since frames come
 * from the network and a bad one must not take a receive loop down.
 *
 * Only the known fields are copied into the result (unknown ones are
 * dropped), and a missing `body` becomes `null`.
 */
export function decodeEnvelope(frame: Buffer, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): Envelope | undefined {
  if (!Buffer.isBuffer(frame) || frame.length === 0 || frame.length > maxBytes) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const raw = parsed as Record<string, unknown>;

  if (raw.v !== PROTOCOL_VERSION) return undefined;
  if (!isId(raw.type) || !isId(raw.from)) return undefined;
  if (!isCounter(raw.seq) || !isCounter(raw.inc)) return undefined;
  if (raw.rid !== undefined && !isId(raw.rid)) return undefined;
  if (raw.re !== undefined && !isId(raw.re)) return undefined;
  if (raw.error !== undefined && typeof raw.error !== 'boolean') return undefined;
  if (raw.mac !== undefined && !(typeof raw.mac === 'string' && raw.mac.length <= MAX_ID_LENGTH)) return undefined;

  const envelope: Envelope = {
    v: PROTOCOL_VERSION,
    type: raw.type,
    from: raw.from,
    inc: raw.inc,
    seq: raw.seq,
    body: raw.body === undefined ? null : raw.body,
  };
  if (raw.rid !== undefined) envelope.rid = raw.rid;
  if (raw.re !== undefined) envelope.re = raw.re;
  if (raw.error !== undefined) envelope.error = raw.error;
  if (raw.mac !== undefined) {
    envelope.mac = raw.mac;
    const signed = signedPart(frame, raw.mac);
    if (signed) envelope.signed = signed;
  }
  return envelope;
}


/** Whether `value` is usable as a node id, message type or request id. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function isCounter(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
