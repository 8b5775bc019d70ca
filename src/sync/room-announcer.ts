import type { PeerAnswer } from '../bus/message-bus';
import { describeError } from '../util/describe-error';
import { TurnBatch } from '../util/turn-batch';
import { MAX_ROOMS_PER_MESSAGE } from './messages';
import type { RoomRecord } from '../state/realtime-store';

/** A peer that did not store a room: it did not answer, or refused the filters. */
export interface AnnounceFailure {
  peer: string;
  reason: string;
}

/** Sends one `room:add` with these rooms to every peer. */
export type SendRooms = (rooms: RoomRecord[]) => Promise<Array<PeerAnswer<{ refused: string[] }>>>;

/**
 * Announces new rooms to the peers in batches: the rooms of every
 * subscription made in the same turn of the event loop travel in one
 * request per peer, so that a burst of subscriptions costs a few messages
 * instead of one per room and peer.
 */
export class RoomAnnouncer {
  private readonly batch = new TurnBatch<RoomRecord, AnnounceFailure[]>(async (rooms) => {
    const chunks: RoomRecord[][] = [];
    for (let i = 0; i < rooms.length; i += MAX_ROOMS_PER_MESSAGE) chunks.push(rooms.slice(i, i + MAX_ROOMS_PER_MESSAGE));
    return (await Promise.all(chunks.map((chunk) => this.sendChunk(chunk)))).flat();
  });

  constructor(private readonly send: SendRooms) {}

  /** Resolves once every peer answered for this room (or failed to), with the failures. */
  announce(room: RoomRecord): Promise<AnnounceFailure[]> {
    return this.batch.add(room);
  }

  private async sendChunk(rooms: RoomRecord[]): Promise<AnnounceFailure[][]> {
    let answers: Array<PeerAnswer<{ refused: string[] }>>;
    try {
      answers = await this.send(rooms);
    } catch (error) {
      return rooms.map(() => [{ peer: '*', reason: describeError(error) }]);
    }
    return rooms.map((room) => {
      const failures: AnnounceFailure[] = [];
      for (const answer of answers) {
        if (answer.error !== undefined) failures.push({ peer: answer.peer, reason: describeError(answer.error) });
        else if (answer.reply.refused.includes(room.roomId)) failures.push({ peer: answer.peer, reason: 'filters refused' });
      }
      return failures;
    });
  }
}
