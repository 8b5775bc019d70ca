import type { NoticeRequest } from '../sync/realtime-host';
import type { SerializedRequest } from './kuzzle-types';

/** Request fields a notification built on a peer reads; nothing else is sent (the body only when it is matched). */
const DATA_KEPT = ['_id', 'action', 'collection', 'controller', 'index', 'requestId', 'timestamp', 'volatile'];

/**
 * Reduces a serialized request to what a peer needs to build the
 * notification: no JWT, no headers, no user, no connection details (the
 * protocol name excepted). Secrets never travel on the cluster's sockets.
 */
export function stripRequest(serialized: SerializedRequest, options: { body?: boolean } = {}): NoticeRequest {
  const data: Record<string, unknown> = {};
  for (const key of DATA_KEPT) {
    if (serialized.data[key] !== undefined) data[key] = serialized.data[key];
  }
  // Only when peers match the change against it (a publish, a document without its source).
  if (options.body && serialized.data.body !== undefined) data.body = serialized.data.body;
  const connection = serialized.options.connection as { protocol?: unknown } | undefined;
  const protocol = typeof connection?.protocol === 'string' ? connection.protocol : undefined;
  return { data, options: protocol ? { connection: { protocol } } : {} };
}
