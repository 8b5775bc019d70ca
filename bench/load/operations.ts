import { Kuzzle, WebSocket } from 'kuzzle-sdk';
import { describeError } from '../../src/util/describe-error';
import { now, sleepUntil } from './clock';
import type { BenchMessage, Command, FilterKind, Replies } from './protocol';
import { Recorder } from './recorder';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

/** What one worker holds: its connections, its rooms per tag, its recorders per tag. */
export class LoadState {
  clients: Kuzzle[] = [];
  /** The port each client is connected to (same order as {@link clients}). */
  private clientPorts: number[] = [];
  readonly rooms = new Map<string, Array<{ client: Kuzzle; roomId: string; port: number }>>();
  readonly recorders = new Map<string, Recorder>();

  recorder(tag: string): Recorder {
    let recorder = this.recorders.get(tag);
    if (!recorder) this.recorders.set(tag, (recorder = new Recorder()));
    return recorder;
  }

  async connect({ ports, clients }: Cmd<'connect'>): Promise<Replies['connect']> {
    for (let i = 0; i < clients; i++) {
      const port = ports[i % ports.length] ?? 0;
      // A long ping interval and no reconnection: a node slowed down by the
      // load must not make the client drop and replay its subscriptions.
      const kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port, pingInterval: 120_000, autoReconnect: false }), { autoResubscribe: false });
      await kuzzle.connect();
      this.clients.push(kuzzle);
      this.clientPorts.push(port);
    }
    return { connected: this.clients.length };
  }

  async subscribe(command: Cmd<'subscribe'>): Promise<Replies['subscribe']> {
    const started = now();
    const recorder = this.recorder(command.tag);
    const rooms = this.rooms.get(command.tag) ?? [];
    this.rooms.set(command.tag, rooms);
    let errors = 0;
    let firstError: string | undefined;
    const onNotification = (notification: unknown): void => {
      const source = (notification as { result?: { _source?: Partial<BenchMessage> } }).result?._source;
      recorder.record(typeof source?.t === 'number' ? source.t : undefined);
    };
    const clients = this.clientsOn(command.port);
    await Promise.all(
      clients.map(async ({ client, port }, c) => {
        const mine: number[] = [];
        for (let i = command.from + c; i < command.to; i += clients.length) mine.push(i);
        let next = 0;
        const loop = async (): Promise<void> => {
          while (next < mine.length) {
            const i = mine[next++] as number;
            const collection = command.collectionOfClient?.[c] ?? (command.collections[i % command.collections.length] as string);
            try {
              const roomId = await client.realtime.subscribe(command.index, collection, filterOf(command.filter, command.tag, i), onNotification);
              rooms.push({ client, roomId, port });
            } catch (error) {
              errors += 1;
              firstError ??= describeError(error);
            }
          }
        };
        await Promise.all(Array.from({ length: command.window }, loop));
      }),
    );
    return { ms: now() - started, subscribed: rooms.length, errors, firstError };
  }

  async unsubscribe({ tag, window, port }: Cmd<'unsubscribe'>): Promise<Replies['unsubscribe']> {
    const started = now();
    const all = this.rooms.get(tag) ?? [];
    const rooms = port === undefined ? all : all.filter((room) => room.port === port);
    const kept = port === undefined ? [] : all.filter((room) => room.port !== port);
    if (kept.length > 0) this.rooms.set(tag, kept);
    else this.rooms.delete(tag);
    let errors = 0;
    const byClient = new Map<Kuzzle, string[]>();
    for (const { client, roomId } of rooms) byClient.set(client, [...(byClient.get(client) ?? []), roomId]);
    await Promise.all(
      [...byClient].map(async ([client, ids]) => {
        let next = 0;
        const loop = async (): Promise<void> => {
          while (next < ids.length) {
            const roomId = ids[next++] as string;
            await client.realtime.unsubscribe(roomId).catch(() => void (errors += 1));
          }
        };
        await Promise.all(Array.from({ length: window }, loop));
      }),
    );
    return { ms: now() - started, unsubscribed: rooms.length - errors, errors };
  }

  /** Open loop at a fixed rate: a slow node makes requests pile up, never the rate drop (up to 2,000 in flight). */
  async publish({ tag, index, collection, rate, startAt, durationMs }: Cmd<'publish'>): Promise<Replies['publish']> {
    const client = this.clients[0];
    if (!client) throw new Error('publish: no client connected');
    await sleepUntil(startAt);
    let sent = 0;
    let errors = 0;
    let skipped = 0;
    let inFlight = 0;
    let firstError: string | undefined;
    const pending = new Set<Promise<void>>();
    const end = startAt + durationMs;
    while (now() < end) {
      const due = Math.floor(((now() - startAt) * rate) / 1000) - sent - skipped;
      for (let k = 0; k < due; k++) {
        if (inFlight >= 2000) {
          skipped += 1;
          continue;
        }
        inFlight += 1;
        sent += 1;
        const message: BenchMessage = { tag, t: now() };
        const done = client.realtime
          .publish(index, collection, { ...message })
          .then(
            () => undefined,
            (error: unknown) => {
              errors += 1;
              firstError ??= describeError(error);
            },
          )
          .finally(() => {
            inFlight -= 1;
            pending.delete(done);
          });
        pending.add(done);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(pending);
    return { sent, errors, skipped, firstError };
  }

  /** Closed loop: as fast as the node answers, `window` in flight per client. */
  async flood({ tag, index, collections, collectionOfClient, window, startAt, durationMs, port }: Cmd<'flood'>): Promise<Replies['flood']> {
    await sleepUntil(startAt);
    const end = startAt + durationMs;
    let sent = 0;
    let errors = 0;
    let firstError: string | undefined;
    await Promise.all(
      this.clients.flatMap((client, c) =>
        Array.from({ length: port === undefined || this.clientPorts[c] === port ? window : 0 }, async () => {
          while (now() < end) {
            const collection = (collectionOfClient?.[c] ?? collections[sent % collections.length]) as string;
            sent += 1;
            const message: BenchMessage = { tag, t: now() };
            await client.realtime.publish(index, collection, { ...message }).catch((error: unknown) => {
              errors += 1;
              firstError ??= describeError(error);
            });
          }
        }),
      ),
    );
    return { sent, errors, firstError };
  }

  /** The clients connected to `port`, or all of them, each with its port. */
  private clientsOn(port: number | undefined): Array<{ client: Kuzzle; port: number }> {
    const all = this.clients.map((client, c) => ({ client, port: this.clientPorts[c] ?? 0 }));
    return port === undefined ? all : all.filter((entry) => entry.port === port);
  }

  disconnect(): void {
    for (const client of this.clients) client.disconnect();
    this.clients = [];
    this.clientPorts = [];
    this.rooms.clear();
    this.recorders.clear();
  }
}

/** The filter of subscription `i` (see {@link FilterKind}). */
export function filterOf(kind: FilterKind, tag: string, i: number): Record<string, unknown> {
  switch (kind) {
    case 'same':
      return { equals: { tag } };
    case 'distinct':
      return { equals: { n: i } };
    case 'fanout':
      // Each subscription its own room, all matching {tag}: one change then
      // notifies every one of them.
      return { and: [{ equals: { tag } }, { not: { equals: { skip: i } } }] };
  }
}
