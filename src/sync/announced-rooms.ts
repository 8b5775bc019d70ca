import type { RoomRecord } from '../state/realtime-store';
import { yieldEvery } from '../util/yield';
import type { RealtimeHost } from './realtime-host';

/** How long a batch of announced rooms runs before it lets the rest of the event loop run. */
const YIELD_EVERY_MS = 10;

/**
 * Stores the filters of rooms a peer announced (`room:add`); resolves with
 * those the engine refused. Koncorde's work on a big batch is let out every
 * few milliseconds, so that heartbeats and health checks keep their pace
 * however much a peer announces.
 */
export async function storeAnnounced(
  rooms: readonly RoomRecord[],
  host: Pick<RealtimeHost, 'storeFilter'>,
  events: { announced(roomId: string): void; refused(roomId: string, error: unknown): void },
): Promise<{ refused: string[] }> {
  const refused: string[] = [];
  const yielder = yieldEvery(YIELD_EVERY_MS);
  for (const room of rooms) {
    events.announced(room.roomId);
    try {
      host.storeFilter(room);
    } catch (error) {
      refused.push(room.roomId);
      events.refused(room.roomId, error);
    }
    const pacing = yielder.pace();
    if (pacing) await pacing;
  }
  return { refused };
}
