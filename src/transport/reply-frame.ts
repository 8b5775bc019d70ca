import { encodeEnvelope } from './codec';
import { PROTOCOL_VERSION, type Envelope } from './envelope';
import { describeError } from '../util/describe-error';
import type { RequestHandler } from './transport';
import { isId } from './zmq-transport-options';

/**
 * Runs `handler` on a request and encodes its reply frame (`re` = `rid`).
 * Any failure, including no handler at all or an invalid reply, becomes an
 * error reply (`error: true`, body `{ message }`) so the requester fails
 * fast instead of waiting for its timeout; `onFailure` gets the cause for logging.
 */
export async function replyFrame(
  nodeId: string,
  handler: RequestHandler | undefined,
  request: Envelope,
  rid: string,
  onFailure: (error: unknown) => void,
): Promise<Buffer> {
  try {
    if (!handler) throw new Error(`node ${nodeId} has no request handler`);
    const reply = await handler(request);
    if (!isId(reply.type)) throw new Error(`handler returned an invalid reply type "${String(reply.type)}"`);
    return encodeEnvelope({ v: PROTOCOL_VERSION, type: reply.type, from: nodeId, seq: 0, re: rid, body: reply.body });
  } catch (error) {
    onFailure(error);
    return encodeEnvelope({
      v: PROTOCOL_VERSION,
      type: request.type,
      from: nodeId,
      seq: 0,
      re: rid,
      error: true,
      body: { message: describeError(error) },
    });
  }
}
