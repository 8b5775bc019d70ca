import { PROTOCOL_VERSION, type Envelope } from './envelope';

/**
 * Largest frame a node accepts (64 MiB). Also given to the receiving sockets
 * as ZMQ_MAXMSGSIZE, so an oversized frame is refused by libzmq before it is
 * ever buffered whole in the JavaScript heap.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Longest accepted `type`, `from`, `rid` and `re` strings. */
export const MAX_ID_LENGTH = 256;

/**
 * Serialises an envelope to a single UTF-8 JSON frame.
 *
 * @throws TypeError when `body` cannot be serialised (cycle, BigInt), and
 * RangeError when the frame would exceed {@link MAX_FRAME_BYTES}: peers would
 * drop it, so the sender must hear about it instead.
 */
export function encodeEnvelope(envelope: Envelope): Buffer {
  const frame = Buffer.from(JSON.stringify(envelope), 'utf8');
  if (frame.length > MAX_FRAME_BYTES) {
    throw new RangeError(
      `envelope of type "${envelope.type}" is ${frame.length} bytes, over the ${MAX_FRAME_BYTES} bytes limit`,
    );
  }
  return frame;
}

/**
 * Parses and checks one frame. Never throws: anything that is not a valid
 * envelope of this protocol version yields `undefined`, since frames come
 * from the network and a bad one must not take a receive loop down.
 *
 * Only the known fields are copied into the result (unknown ones are
 * dropped), and a missing `body` becomes `null`.
 */
export function decodeEnvelope(frame: Buffer): Envelope | undefined {
  if (!Buffer.isBuffer(frame) || frame.length === 0 || frame.length > MAX_FRAME_BYTES) return undefined;
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
  if (typeof raw.seq !== 'number' || !Number.isSafeInteger(raw.seq) || raw.seq < 0) return undefined;
  if (raw.rid !== undefined && !isId(raw.rid)) return undefined;
  if (raw.re !== undefined && !isId(raw.re)) return undefined;
  if (raw.error !== undefined && typeof raw.error !== 'boolean') return undefined;

  const envelope: Envelope = {
    v: PROTOCOL_VERSION,
    type: raw.type,
    from: raw.from,
    seq: raw.seq,
    body: raw.body === undefined ? null : raw.body,
  };
  if (raw.rid !== undefined) envelope.rid = raw.rid;
  if (raw.re !== undefined) envelope.re = raw.re;
  if (raw.error !== undefined) envelope.error = raw.error;
  return envelope;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}
