import type { SerializedRequest } from '../plugin/kuzzle-types';
import { isNonEmptyString as isString, isObject } from '../util/guards';
import type { DocumentNotice, RoomDescriptor, UserNotice } from './realtime-host';

/**
 * Validators for the bodies of realtime messages received from peers. Each
 * returns undefined on a malformed body, which the caller drops and counts.
 */


function parseRequest(value: unknown): SerializedRequest | undefined {
  if (!isObject(value) || !isObject(value.data) || !isObject(value.options)) return undefined;
  return { data: value.data, options: value.options };
}

export function parseRoomDescriptor(body: unknown): RoomDescriptor | undefined {
  if (!isObject(body) || !isString(body.index) || !isString(body.collection) || !isString(body.roomId)) return undefined;
  if (!Array.isArray(body.filters)) return undefined;
  return { index: body.index, collection: body.collection, roomId: body.roomId, filters: body.filters };
}

export function parseRoomVersion(body: unknown): { index: string; collection: string; roomId?: string; version: number } | undefined {
  if (!isObject(body) || !isString(body.index) || !isString(body.collection)) return undefined;
  if (typeof body.version !== 'number' || !Number.isInteger(body.version) || body.version < 0) return undefined;
  if (body.roomId !== undefined && !isString(body.roomId)) return undefined;
  return { index: body.index, collection: body.collection, roomId: body.roomId, version: body.version };
}

export function parseDocumentNotice(body: unknown): DocumentNotice | undefined {
  if (!isObject(body) || !Array.isArray(body.rooms) || !body.rooms.every(isString)) return undefined;
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
export function parseRewritten(body: unknown): Array<{ index: string; collection: string }> | undefined {
  const list = isObject(body) ? body.collections : undefined;
  if (!Array.isArray(list)) return undefined;
  const collections: Array<{ index: string; collection: string }> = [];
  for (const item of list) {
    const change = parseRoomVersion(item);
    if (!change) return undefined;
    collections.push({ index: change.index, collection: change.collection });
  }
  return collections;
}
