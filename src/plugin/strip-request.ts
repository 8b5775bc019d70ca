import type { NoticeRequest } from '../sync/realtime-host';
import type { SerializedRequest } from './kuzzle-types';

/** Request fields a notification built on a peer reads; nothing else is sent. */
const DATA_KEPT = ['_id', 'action', 'collection', 'controller', 'index', 'requestId', 'timestamp', 'volatile'];

/**
 * Reduces a serialized request to what a peer needs to build the
 * notification: no JWT, no headers, no user, no connection details (the
 * protocol name excepted). Secrets never travel on the cluster's sockets.
 */
export function stripRequest(serialized: SerializedRequest): NoticeRequest {
  const data: Record<string, unknown> = {};
  for (const key of DATA_KEPT) {
    if (serialized.data[key] !== undefined) data[key] = serialized.data[key];
  }
  const connection = serialized.options.connection as { protocol?: unknown } | undefined;
  const protocol = typeof connection?.protocol === 'string' ? connection.protocol : undefined;
  return { data, options: protocol ? { connection: { protocol } } : {} };
}
