import { randomUUID } from 'node:crypto';
import type { CardStore } from '../../src/membership/card-store';
import type { NodeCard } from '../../src/membership/node-card';
import type { SharedRecords } from '../../src/state/shared-records';
import type { EpochProbe, RealtimeStoreMetrics, SharedState, StateMark } from '../../src/state/shared-state';
import type { HistogramSnapshot } from '../../src/util/histogram';
import { MemoryRealtimeStore } from './memory-realtime-store';

/** The realtime store double, with the metrics a node reads for status. */
export class MeteredMemoryRealtimeStore extends MemoryRealtimeStore implements RealtimeStoreMetrics {
  async countRooms(): Promise<number> {
    return this.rooms.size;
  }

  scriptLatency(): Record<string, HistogramSnapshot> {
    return {};
  }
}

/**
 * One in-memory "Redis" shared by the nodes of a unit test: cards with
 * their expiry, the incarnation counter, the realtime rooms, the epoch and
 * the records. {@link lose} forgets everything, as a Redis restarted empty.
 */
export class MemoryStateServer {
  readonly realtime = new MeteredMemoryRealtimeStore();
  readonly cards = new Map<string, { card: NodeCard; expiresAt: number }>();
  readonly records = new Map<string, Map<string, string>>();
  readonly marks = new Map<string, string>();
  epoch: string | undefined;
  incarnations = 0;
  /** Every call fails while set (Redis unreachable). */
  unreachable: Error | undefined;

  constructor(readonly cardTtlMs: number) {}

  /** A node's connection to this server. */
  connect(): SharedState {
    return new MemorySharedState(this);
  }

  /** Forgets every key (FLUSHALL); the incarnation counter too, as Redis would. */
  lose(): void {
    this.realtime.rooms.clear();
    this.cards.clear();
    this.records.clear();
    this.marks.clear();
    this.epoch = undefined;
    this.incarnations = 0;
  }

  check(): void {
    if (this.unreachable) throw this.unreachable;
  }
}

class MemoryCardStore implements CardStore {
  private lastIncarnation = 0;

  constructor(private readonly server: MemoryStateServer) {}

  async register(card: NodeCard): Promise<void> {
    this.server.check();
    this.server.cards.set(card.id, { card: structuredClone(card), expiresAt: Date.now() + this.server.cardTtlMs });
  }

  async unregister(id: string): Promise<void> {
    this.server.check();
    this.server.cards.delete(id);
  }

  async list(): Promise<NodeCard[]> {
    this.server.check();
    const now = Date.now();
    return [...this.server.cards.values()].filter((entry) => entry.expiresAt > now).map((entry) => structuredClone(entry.card));
  }

  async renew(card: NodeCard): Promise<readonly NodeCard[]> {
    await this.register(card);
    return this.list();
  }

  async get(id: string): Promise<NodeCard | undefined> {
    this.server.check();
    const entry = this.server.cards.get(id);
    return entry && entry.expiresAt > Date.now() ? structuredClone(entry.card) : undefined;
  }

  async renewedAt(id: string): Promise<number | undefined> {
    this.server.check();
    const entry = this.server.cards.get(id);
    return entry ? entry.expiresAt - this.server.cardTtlMs : undefined;
  }

  /** As RedisCardStore: growing for this node even if the server lost its counter. */
  async nextIncarnation(): Promise<number> {
    this.server.check();
    this.server.incarnations += 1;
    this.lastIncarnation = Math.max(this.server.incarnations, this.lastIncarnation + 1);
    return this.lastIncarnation;
  }
}

class MemoryEpoch implements EpochProbe {
  private known: string | undefined;

  constructor(private readonly server: MemoryStateServer) {}

  async check(): Promise<boolean> {
    this.server.check();
    this.server.epoch ??= randomUUID();
    const changed = this.known !== undefined && this.server.epoch !== this.known;
    this.known = this.server.epoch;
    return changed;
  }
}

class MemoryRecords implements SharedRecords {
  constructor(
    private readonly server: MemoryStateServer,
    private readonly name: string,
  ) {}

  private get entries(): Map<string, string> {
    const entries = this.server.records.get(this.name) ?? new Map<string, string>();
    this.server.records.set(this.name, entries);
    return entries;
  }

  async set(name: string, value: unknown): Promise<void> {
    this.server.check();
    this.entries.set(name, JSON.stringify(value));
  }

  async delete(name: string): Promise<void> {
    this.server.check();
    this.entries.delete(name);
  }

  async all(): Promise<Array<{ name: string; value: unknown }>> {
    this.server.check();
    return [...this.entries].map(([name, json]) => ({ name, value: JSON.parse(json) as unknown }));
  }
}

class MemorySharedState implements SharedState {
  readonly cards: CardStore;
  readonly realtime: MeteredMemoryRealtimeStore;
  readonly epoch: EpochProbe;
  closed = false;

  constructor(private readonly server: MemoryStateServer) {
    this.cards = new MemoryCardStore(server);
    this.realtime = server.realtime;
    this.epoch = new MemoryEpoch(server);
  }

  records(name: string): SharedRecords {
    return new MemoryRecords(this.server, name);
  }

  mark(nodeId: string): StateMark {
    const key = `mark:${nodeId}`;
    return {
      key,
      write: async (value) => {
        this.server.check();
        this.server.marks.set(key, value);
      },
      read: async () => {
        this.server.check();
        return this.server.marks.get(key) ?? null;
      },
    };
  }

  async connect(): Promise<void> {
    this.server.check();
  }

  close(): void {
    this.closed = true;
  }
}
