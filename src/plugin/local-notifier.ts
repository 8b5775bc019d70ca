import { encodeCollectionRef } from '../state/keys';
import type { ChangeNotice } from '../sync/realtime-host';
import type { KuzzleLike, KuzzleRequestLike } from './kuzzle-types';

type DocumentChange = ChangeNotice['documents'][number];
type DocumentAction = Exclude<ChangeNotice['action'], 'publish'>;

/** Tags kept before the first sweep of those of collections without filters. */
const MIN_SWEEP_AT = 64;

/**
 * Kuzzle 2.10's notifier (core/realtime/notifier.js, `notifyDocuments` and
 * `publish`) run on this node's filters only, for a change made here or on
 * a peer. One difference: the rooms a document matched are remembered per
 * node. Kuzzle keeps one list per document, written by whichever node made
 * the last change and holding that node's rooms only; with filters split
 * over the nodes, each node remembers its own rooms, under
 * `{notif/<index>/<collection>}@<tag>/<_id>` (same hash tag as Kuzzle's key:
 * one Redis Cluster slot per collection, as Kuzzle's `mget` needs).
 */
export class LocalNotifier {
  /**
   * The tag of this node's lists per collection. It changes whenever the
   * node held no filter in the collection when a change passed (that change
   * was not remembered here): lists written before are never read again.
   */
  private readonly tags = new Map<string, { tag: string; index: string; collection: string; usedAt: number }>();
  private readonly nodeTag: string;
  private nextTag = 0;
  /** Tags at which the next new one first drops those of collections left without filters (see {@link newTag}). */
  private sweepAt = MIN_SWEEP_AT;

  constructor(
    private readonly kuzzle: KuzzleLike,
    private readonly now: () => number = Date.now,
  ) {
    this.nodeTag = `${kuzzle.id}.${Date.now().toString(36)}`;
  }

  /**
   * Notifies this node's subscribers of a change; undefined, at once, when
   * no filter of this node is on the change's collection. `origin`: the
   * change was made through this node, so every channel is notified and
   * `core:notify:document` emitted, as Kuzzle does; otherwise only the
   * channels subscribed with `cluster: true`.
   */
  notify(change: Omit<ChangeNotice, 'request'>, request: () => KuzzleRequestLike, origin: boolean): Promise<void> | undefined {
    const prefix = this.cachePrefix(change.index, change.collection);
    if (prefix === undefined) return undefined;
    const live = new Notification(this.kuzzle, change, request(), origin);
    return change.action === 'publish' ? live.publish() : this.documents(live, change.action, change.documents, prefix);
  }

  private cachePrefix(index: string, collection: string): string | undefined {
    const key = encodeCollectionRef(index, collection);
    if (!this.kuzzle.koncorde.exists(index, collection)) {
      this.tags.delete(key);
      return undefined;
    }
    const now = this.now();
    const entry = this.tags.get(key);
    if (entry) entry.usedAt = now;
    const tag = entry?.tag ?? this.newTag(key, index, collection, now);
    return `{notif/${index}/${collection}}@${tag}/`;
  }

  /**
   * A collection's tag is otherwise dropped only when a change reaches it
   * with no filter left: one whose subscribers left for good would keep its
   * entry, and clients may subscribe in ever new collections. Each time the
   * tags double, those of collections without filters go once the lists
   * written under them have expired (Kuzzle's `subscriptionDocumentTTL`,
   * which its cache takes in milliseconds; never when lists do not expire):
   * until then, filters coming back would still read them, as on one
   * Kuzzle. Amortized, one check per new tag.
   */
  private newTag(key: string, index: string, collection: string, now: number): string {
    const ttl = this.kuzzle.config.limits?.subscriptionDocumentTTL;
    if (this.tags.size >= this.sweepAt && typeof ttl === 'number' && ttl > 0) {
      for (const [other, entry] of this.tags) {
        if (now - entry.usedAt > ttl && !this.kuzzle.koncorde.exists(entry.index, entry.collection)) this.tags.delete(other);
      }
      this.sweepAt = Math.max(MIN_SWEEP_AT, 2 * this.tags.size);
    }
    const tag = `${this.nodeTag}.${(this.nextTag++).toString(36)}`;
    this.tags.set(key, { tag, index, collection, usedAt: now });
    return tag;
  }

  /**
   * The lists written so far under the collection's tag may have missed
   * changes (peers did not send them here while this node did not listen
   * there): a new tag, so that none of them is read again (one Kuzzle,
   * whose single list every change rewrites, would not send an `out` for a
   * document that left the filter meanwhile).
   */
  forget(index: string, collection: string): void {
    this.tags.delete(encodeCollectionRef(index, collection));
  }

  /** How many collections are tagged (for tests). */
  get taggedCollections(): number {
    return this.tags.size;
  }

  /** `notifyDocuments`: the rooms matched before are read for replacements and updates, and written back. */
  private async documents(live: Notification, action: DocumentAction, documents: DocumentChange[], prefix: string): Promise<void> {
    const cacheIds = documents.map((doc) => `${prefix}${String(doc._id)}`);
    const cached = action === 'replace' || action === 'update' || (action === 'write' && documents.some((doc) => doc.created !== true));
    const before = cached ? ((await this.kuzzle.ask('core:cache:internal:mget', cacheIds)) as Array<string | null>) : [];
    const matched = await Promise.all(documents.map((doc, i) => live.document(action, doc, before[i] ?? null)));
    const ttl = this.kuzzle.config.limits?.subscriptionDocumentTTL;
    const toDelete: string[] = [];
    await Promise.all(
      matched.map((rooms, i) => {
        const id = cacheIds[i] ?? '';
        if (rooms.length === 0) {
          toDelete.push(id);
          return undefined;
        }
        return this.kuzzle.ask('core:cache:internal:store', id, JSON.stringify(rooms), { ttl });
      }),
    );
    if (toDelete.length > 0) await this.kuzzle.ask('core:cache:internal:del', toDelete);
  }
}

/** One change's notifications on this node. */
class Notification {
  constructor(
    private readonly kuzzle: KuzzleLike,
    private readonly change: Omit<ChangeNotice, 'request'>,
    private readonly request: KuzzleRequestLike,
    private readonly origin: boolean,
  ) {}

  async publish(): Promise<void> {
    const { resource, body } = this.request.input;
    await this.send(this.test(null, undefined), 'in', 'publish', { _id: resource._id, _source: body });
  }

  /** One document: notifies the rooms it matches now and those it left; resolves with the rooms to remember. */
  async document(action: DocumentAction, doc: DocumentChange, before: string | null): Promise<string[]> {
    const rooms = this.test(doc._source, doc._id);
    if (action === 'delete') {
      await this.send(rooms, 'out', 'delete', { _id: doc._id });
      return [];
    }
    if (action === 'create' || (action === 'write' && doc.created === true)) {
      await this.send(rooms, 'in', 'create', doc);
      return rooms;
    }
    const named = action === 'update' ? 'update' : 'replace';
    await this.send(rooms, 'in', named, doc);
    if (before !== null) {
      const now = new Set(rooms);
      await this.send(roomsIn(before).filter((room) => !now.has(room)), 'out', named, { _id: doc._id });
    }
    return rooms;
  }

  /** Kuzzle's `_test`: the document's source, else the request's body; its id, else the request's. */
  private test(source: unknown, id: unknown): string[] {
    const { resource, body } = this.request.input;
    const data = source !== null && source !== undefined && source !== false && source !== '' ? source : (body ?? {});
    const documentId = typeof id === 'string' && id !== '' ? id : resource._id;
    return this.kuzzle.koncorde.test(this.change.index, this.change.collection, data, documentId);
  }

  private async send(rooms: string[], scope: 'in' | 'out', action: string, content: unknown): Promise<void> {
    if (rooms.length === 0) return;
    if (this.origin) this.kuzzle.emit('core:notify:document', { action, content, request: this.request.serialize(), rooms, scope });
    await this.kuzzle.ask('core:realtime:document:dispatch', rooms, this.request, scope, action, content, { fromCluster: !this.origin });
  }
}

/** A remembered list of rooms; nothing for what is not one (a foreign or damaged entry). */
function roomsIn(cached: string): string[] {
  try {
    const rooms: unknown = JSON.parse(cached);
    return Array.isArray(rooms) ? rooms.filter((room): room is string => typeof room === 'string') : [];
  } catch {
    return [];
  }
}
