import { broadcast, parseEmpty, request } from '../bus/message-spec';
import { isNonEmptyString as isString, isObject } from '../util/guards';
import type { CollectionRef, RoomTally } from '../state/realtime-store';
import type { ChangeNotice, NoticeRequest, UserNotice } from './realtime-host';

/**
 * Most documents in one `change:documents`: a bulk change travels in
 * several messages, so that what one message makes a peer match is bounded.
 */
export const MAX_DOCUMENTS_PER_MESSAGE = 100;
/** Most collections in one `interest:list` answer; more come in further pages. */
export const MAX_INTEREST_LIST = 10_000;

/** One page of `interest:list`: the collections after a cursor, and the cursor of the next page if there is one. */
export interface InterestPage {
  collections: CollectionRef[];
  next?: string;
}

/** What happened to the documents of a change, as Kuzzle's notifier names it; `publish` is a `realtime:publish`. */
export const CHANGE_ACTIONS = ['publish', 'create', 'delete', 'replace', 'update', 'write'] as const;
export type ChangeAction = (typeof CHANGE_ACTIONS)[number];
const isChangeAction = (value: unknown): value is ChangeAction => (CHANGE_ACTIONS as readonly unknown[]).includes(value);

function parseRequest(value: unknown): NoticeRequest | undefined {
  if (!isObject(value) || !isObject(value.data) || !isObject(value.options)) return undefined;
  return { data: value.data, options: value.options };
}

export const parseRef = (value: unknown): CollectionRef | undefined =>
  isObject(value) && isString(value.index) && isString(value.collection) ? { index: value.index, collection: value.collection } : undefined;

export function parseChangeNotice(body: unknown): ChangeNotice | undefined {
  const ref = parseRef(body);
  if (!ref || !isObject(body) || !isChangeAction(body.action)) return undefined;
  const request = parseRequest(body.request);
  const documents = body.documents;
  if (!request || !Array.isArray(documents) || documents.length > MAX_DOCUMENTS_PER_MESSAGE || !documents.every(isObject)) return undefined;
  // A publish matches its request's body, a document change its documents.
  if ((body.action === 'publish') !== (documents.length === 0)) return undefined;
  return { ...ref, action: body.action, request, documents };
}

export function parseUserNotice(body: unknown): UserNotice | undefined {
  if (!isObject(body) || !isString(body.room) || !isString(body.scope)) return undefined;
  const request = parseRequest(body.request);
  if (!request) return undefined;
  return { room: body.room, request, scope: body.scope, content: body.content };
}

/** Request of `interest:list`: the page after `after` (from the start when absent). */
function parseInterestListRequest(body: unknown): { after?: string } | undefined {
  if (!isObject(body)) return undefined;
  if (body.after === undefined) return {};
  return isString(body.after) ? { after: body.after } : undefined;
}

/** Reply of `interest:list`: one page of the collections where the node has subscribers. */
function parseInterestList(body: unknown): InterestPage | undefined {
  const list = isObject(body) ? body.collections : undefined;
  if (!isObject(body) || !Array.isArray(list) || list.length > MAX_INTEREST_LIST) return undefined;
  if (body.next !== undefined && !isString(body.next)) return undefined;
  const collections = list.map(parseRef);
  if (!collections.every((ref): ref is CollectionRef => ref !== undefined)) return undefined;
  return body.next === undefined ? { collections } : { collections, next: body.next };
}

const parseResetSummary = (body: unknown): RoomTally | undefined =>
  isObject(body) && typeof body.rooms === 'number' && typeof body.subscribers === 'number'
    ? { rooms: body.rooms, subscribers: body.subscribers }
    : undefined;

/** The realtime protocol. */
export const REALTIME_MESSAGES = {
  /** Documents changed (or a message published) through the sender: match them against your own filters and notify. */
  'change:documents': broadcast(parseChangeNotice),
  'notify:user': broadcast(parseUserNotice),
  /** The sender got its first subscriber in this collection: send it the changes there from now on (answered once recorded). */
  'interest:add': request(parseRef, parseEmpty),
  /** The sender has no subscriber left in this collection. */
  'interest:remove': request(parseRef, parseEmpty),
  /** Which collections have subscribers on you? (One page: ask again with `after` = `next` until there is none.) */
  'interest:list': request(parseInterestListRequest, parseInterestList),
  /** Write your live subscriptions back to the shared state (POST /_plugin/cluster/reset). */
  'reset:local': request(parseEmpty, parseResetSummary),
} as const;
