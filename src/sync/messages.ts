import { broadcast, parseEmpty, request } from '../bus/message-spec';
import { isNonEmptyString as isString, isObject } from '../util/guards';
import type { CollectionRef, RoomRecord, RoomTally } from '../state/realtime-store';
import type { DocumentNotice, NoticeRequest, UserNotice } from './realtime-host';

/** Longest list of room ids in one message: removals of more rooms are split. */
export const MAX_ROOMS_PER_MESSAGE = 1000;
/** Longest list of collections in one message: more are sent in several. */
export const MAX_COLLECTIONS_PER_MESSAGE = 100;
/**
 * Most filter conditions in one `room:add`: what one message can make a
 * peer store (Koncorde's work) is bounded, whatever the rooms' sizes. A
 * room over it travels alone.
 */
export const MAX_CONDITIONS_PER_MESSAGE = 50_000;

/** Conditions of a normalized filter (subfilters × their conditions); 0 for what is not one. */
export function conditionsOf(filters: unknown): number {
  return Array.isArray(filters) ? filters.reduce((sum: number, subfilter: unknown) => sum + (Array.isArray(subfilter) ? subfilter.length : 0), 0) : 0;
}

function parseRequest(value: unknown): NoticeRequest | undefined {
  if (!isObject(value) || !isObject(value.data) || !isObject(value.options)) return undefined;
  return { data: value.data, options: value.options };
}

const isRoomList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.length > 0 && value.length <= MAX_ROOMS_PER_MESSAGE && value.every(isString);

const parseRef = (value: unknown): CollectionRef | undefined =>
  isObject(value) && isString(value.index) && isString(value.collection) ? { index: value.index, collection: value.collection } : undefined;

export function parseRoomRecord(body: unknown): RoomRecord | undefined {
  const ref = parseRef(body);
  if (!ref || !isObject(body) || !isString(body.roomId) || !Array.isArray(body.filters)) return undefined;
  return { ...ref, roomId: body.roomId, filters: body.filters };
}

export function parseRoomsRemoved(body: unknown): (CollectionRef & { roomIds: string[] }) | undefined {
  const ref = parseRef(body);
  return ref && isObject(body) && isRoomList(body.roomIds) ? { ...ref, roomIds: body.roomIds } : undefined;
}

export function parseDocumentNotice(body: unknown): DocumentNotice | undefined {
  if (!isObject(body) || !isRoomList(body.rooms)) return undefined;
  const request = parseRequest(body.request);
  if (!request || !isString(body.scope) || !isString(body.action)) return undefined;
  return { rooms: body.rooms, request, scope: body.scope, action: body.action, content: body.content };
}

export function parseUserNotice(body: unknown): UserNotice | undefined {
  if (!isObject(body) || !isString(body.room) || !isString(body.scope)) return undefined;
  const request = parseRequest(body.request);
  if (!request) return undefined;
  return { room: body.room, request, scope: body.scope, content: body.content };
}

/** Body of `state:rewritten`: the collections a node rewrote. */
export function parseRewritten(body: unknown): { collections: CollectionRef[] } | undefined {
  const list = isObject(body) ? body.collections : undefined;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_COLLECTIONS_PER_MESSAGE) return undefined;
  const collections = list.map(parseRef);
  return collections.every((ref): ref is CollectionRef => ref !== undefined) ? { collections } : undefined;
}

/** Body of `room:add`: rooms announced together (the subscriptions of one moment). */
export function parseRoomsAdded(body: unknown): { rooms: RoomRecord[] } | undefined {
  const list = isObject(body) ? body.rooms : undefined;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_ROOMS_PER_MESSAGE) return undefined;
  const rooms = list.map(parseRoomRecord);
  if (!rooms.every((room): room is RoomRecord => room !== undefined)) return undefined;
  // One room may be bigger than the bound alone (it travels alone), never several.
  const conditions = rooms.reduce((sum, room) => sum + conditionsOf(room.filters), 0);
  return rooms.length === 1 || conditions <= MAX_CONDITIONS_PER_MESSAGE ? { rooms } : undefined;
}

/** Reply of `room:add`: the rooms whose filters the peer refused (not storable). */
const parseAck = (body: unknown): { refused: string[] } | undefined =>
  isObject(body) && Array.isArray(body.refused) && body.refused.every(isString) ? { refused: body.refused } : undefined;

const parseResetSummary = (body: unknown): RoomTally | undefined =>
  isObject(body) && typeof body.rooms === 'number' && typeof body.subscribers === 'number'
    ? { rooms: body.rooms, subscribers: body.subscribers }
    : undefined;

/** The realtime protocol. */
export const REALTIME_MESSAGES = {
  /** Rooms got their first subscriber on the sender: store their filters, then answer. */
  'room:add': request(parseRoomsAdded, parseAck),
  /** Rooms deleted from the shared state (no subscriber left anywhere). */
  'room:remove': broadcast(parseRoomsRemoved),
  'notify:document': broadcast(parseDocumentNotice),
  'notify:user': broadcast(parseUserNotice),
  /** The sender rewrote its subscriptions in these collections: reload them from the shared state. */
  'state:rewritten': broadcast(parseRewritten),
  /** Write your live subscriptions back to the shared state (POST /_plugin/cluster/reset). */
  'reset:local': request(parseEmpty, parseResetSummary),
} as const;
