import { describeError } from '../util/describe-error';
import type { Envelope } from './envelope';
import type { Transport } from './transport';

/** One peer's answer to {@link requestEach}: its reply, or why there is none. */
export type PeerAnswer = { peer: string; reply: Envelope; error?: undefined } | { peer: string; reply?: undefined; error: string };

/** Sends one request to each peer at once and waits for every answer or failure. Never rejects. */
export async function requestEach(
  transport: Transport,
  peers: readonly string[],
  type: string,
  body: unknown,
  timeoutMs: number,
): Promise<PeerAnswer[]> {
  const results = await Promise.allSettled(peers.map((peer) => transport.request(peer, type, body, timeoutMs)));
  return results.map((result, i) => {
    const peer = peers[i] ?? '?';
    return result.status === 'fulfilled' ? { peer, reply: result.value } : { peer, error: describeError(result.reason) };
  });
}
