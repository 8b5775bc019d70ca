import type { PeerAnswer } from '../bus/message-bus';
import { describeError } from '../util/describe-error';
import { TurnBatch } from '../util/turn-batch';
import { conditionsOf, MAX_CONDITIONS_PER_MESSAGE, MAX_ROOMS_PER_MESSAGE } from './messages';
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
  // One message at a time: peers store batches one after another anyway, and
  // bound the requests of one sender in progress (a rewrite of 100,000 rooms
  // is a hundred messages).
  private readonly batch = new TurnBatch<RoomRecord, AnnounceFailure[]>(async (rooms) => {
    const failures: AnnounceFailure[][] = [];
    for (const chunk of roomBatches(rooms)) failures.push(...(await this.sendChunk(chunk)));
    return failures;
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

/**
 * Rooms cut into `room:add` messages within the bounds peers accept: at
 * most {@link MAX_ROOMS_PER_MESSAGE} rooms and
 * {@link MAX_CONDITIONS_PER_MESSAGE} filter conditions each (a room alone
 * over the latter travels alone).
 */
export function roomBatches(rooms: readonly RoomRecord[]): RoomRecord[][] {
  const batches: RoomRecord[][] = [];
  let current: RoomRecord[] = [];
  let conditions = 0;
  for (const room of rooms) {
    const weight = conditionsOf(room.filters);
    if (current.length > 0 && (current.length >= MAX_ROOMS_PER_MESSAGE || conditions + weight > MAX_CONDITIONS_PER_MESSAGE)) {
      batches.push(current);
      current = [];
      conditions = 0;
    }
    current.push(room);
    conditions += weight;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
