import { codeOf } from '../util/cluster-error';
import { describeError } from '../util/describe-error';
import { isId } from './codec';
import type { Envelope } from './envelope';
import type { EnvelopeFields } from './frame-writer';
import type { RequestHandler } from './transport';

/** Characters of an error's message sent back with an error reply, at most. */
const MAX_ERROR_MESSAGE = 1000;

/** Encodes an envelope of this node (sender, incarnation and version filled in). */
export type EncodeOwn = (fields: EnvelopeFields) => Buffer;

/**
 * Runs `handler` on a request and encodes its reply frame (`re` = `rid`).
 * Any failure, including no handler at all or an invalid reply, becomes an
 * error reply (`error: true`, body `{ code, message }`) so the requester
 * fails fast, with the same code, instead of waiting for its timeout;
 * `onFailure` gets the cause for logging.
 */
export async function replyFrame(
  encode: EncodeOwn,
  handler: RequestHandler | undefined,
  request: Envelope,
  rid: string,
  onFailure: (error: unknown) => void,
): Promise<Buffer> {
  try {
    if (!handler) throw new Error('this node has no request handler');
    const reply = await handler(request);
    if (!isId(reply.type)) throw new Error(`handler returned an invalid reply type "${String(reply.type)}"`);
    return encode({ type: reply.type, seq: 0, re: rid, body: reply.body });
  } catch (error) {
    onFailure(error);
    // Cut: a message echoing what a request carried must not make the error reply itself too large to encode.
    const message = describeError(error).slice(0, MAX_ERROR_MESSAGE);
    return encode({ type: request.type, seq: 0, re: rid, error: true, body: { code: codeOf(error), message } });
  }
}
