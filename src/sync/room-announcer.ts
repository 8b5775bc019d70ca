import type { PeerAnswer } from '../bus/message-bus';
import { describeError } from '../util/describe-error';
import { MAX_ROOMS_PER_MESSAGE } from './messages';
import type { RoomDescriptor } from './realtime-host';

/** A peer that did not store a room: it did not answer, or refused the filters. */
export interface AnnounceFailure {
  peer: string;
  reason: string;
}

/** Sends one `room:add` with these rooms to every peer. */
export type SendRooms = (rooms: RoomDescriptor[]) => Promise<Array<PeerAnswer<{ refused: string[] }>>>;

interface Waiting {
  room: RoomDescriptor;
  resolve: (failures: AnnounceFailure[]) => void;
}

/**
 * Announces new rooms to the peers in batches: the rooms of every
 * subscription made in the same turn of the event loop travel in one
 * request per peer, so that a burst of subscriptions costs a few messages
 * instead of one per room and peer, while a lone subscription waits for
 * nothing more than the next turn.
 */
export class RoomAnnouncer {
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(private readonly send: SendRooms) {}

  /** Resolves once every peer answered for this room (or failed to), with the failures. */
  announce(room: RoomDescriptor): Promise<AnnounceFailure[]> {
    return new Promise((resolve) => {
      this.waiting.push({ room, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = [];
    const chunks: Waiting[][] = [];
    for (let i = 0; i < batch.length; i += MAX_ROOMS_PER_MESSAGE) chunks.push(batch.slice(i, i + MAX_ROOMS_PER_MESSAGE));
    await Promise.all(chunks.map((chunk) => this.sendChunk(chunk)));
  }

  private async sendChunk(chunk: Waiting[]): Promise<void> {
    let answers: Array<PeerAnswer<{ refused: string[] }>>;
    try {
      answers = await this.send(chunk.map((waiting) => waiting.room));
    } catch (error) {
      for (const waiting of chunk) waiting.resolve([{ peer: '*', reason: describeError(error) }]);
      return;
    }
    for (const { room, resolve } of chunk) {
      const failures: AnnounceFailure[] = [];
      for (const answer of answers) {
        if (answer.error !== undefined) failures.push({ peer: answer.peer, reason: describeError(answer.error) });
        else if (answer.reply.refused.includes(room.roomId)) failures.push({ peer: answer.peer, reason: 'filters refused' });
      }
      resolve(failures);
    }
  }
}
