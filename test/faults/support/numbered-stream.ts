import type { Kuzzle } from 'kuzzle-sdk';
import type { Stack } from '../../harness/stack';
import { waitFor } from '../../harness/wait';
import { portOf, wsClient } from '../../functional/support/fixture';

/**
 * A publisher sending numbered messages (`realtime:publish`) at a steady
 * rate, remembering which ones its node acknowledged: the ones every
 * subscriber that was listening must get, exactly once.
 */
export class NumberedStream {
  readonly acked = new Set<number>();
  readonly failed = new Set<number>();
  private next = 1;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;

  constructor(
    private publisher: Kuzzle,
    readonly index: string,
    readonly collection: string,
    readonly stream: string,
    private readonly intervalMs = 10,
  ) {}

  /** The number the next message will carry. */
  get position(): number {
    return this.next;
  }

  start(): void {
    this.timer ??= setInterval(() => this.publishOne(), this.intervalMs);
  }

  /** Publishes through another client from now on (the previous node is going away). */
  usePublisher(publisher: Kuzzle): void {
    this.publisher = publisher;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await waitFor('in-flight publishes to settle', () => this.inFlight === 0, { timeoutMs: 30_000 });
  }

  private publishOne(): void {
    const n = this.next++;
    this.inFlight++;
    this.publisher.realtime
      .publish(this.index, this.collection, { stream: this.stream, n })
      .then(
        () => this.acked.add(n),
        () => this.failed.add(n),
      )
      .finally(() => this.inFlight--);
  }
}

/** A subscriber of a stream, counting what it receives. */
export class StreamSubscriber {
  readonly received = new Map<number, number>();
  /** First number it must get: published after its subscription was answered. */
  from = Number.POSITIVE_INFINITY;
  /** Last number it must get (set when it stops listening, e.g. its node goes away). */
  until = Number.POSITIVE_INFINITY;
  roomId = '';

  constructor(
    readonly name: string,
    readonly client: Kuzzle,
  ) {}

  async subscribe(stream: NumberedStream): Promise<void> {
    this.roomId = await this.client.realtime.subscribe(stream.index, stream.collection, { equals: { stream: stream.stream } }, (notification: unknown) => {
      const n = (notification as { result?: { _source?: { n?: unknown } } }).result?._source?.n;
      if (typeof n === 'number') this.received.set(n, (this.received.get(n) ?? 0) + 1);
    });
    this.from = stream.position;
  }

  /** Acknowledged numbers in its window that it did not get. */
  missing(stream: NumberedStream): number[] {
    return [...stream.acked].filter((n) => n >= this.from && n <= this.until && !this.received.has(n)).sort((a, b) => a - b);
  }

  duplicates(): number[] {
    return [...this.received].filter(([, count]) => count > 1).map(([n]) => n);
  }
}

/** One subscriber of `stream` per listed node, each on its own WebSocket to that node. */
export async function subscribersOn(
  stack: Stack,
  stream: NumberedStream,
  nodes: number[] = [1, 2, 3],
  options: { pingInterval?: number } = {},
): Promise<StreamSubscriber[]> {
  const list: StreamSubscriber[] = [];
  for (const node of nodes) {
    const subscriber = new StreamSubscriber(`on ${node}`, await wsClient(portOf(stack, node), options));
    await subscriber.subscribe(stream);
    list.push(subscriber);
  }
  return list;
}

/** Waits until every subscriber got every acknowledged number of its window; explains what is missing otherwise. */
export async function assertNoLoss(stream: NumberedStream, subscribers: StreamSubscriber[], timeoutMs = 15_000): Promise<void> {
  await waitFor(
    'every subscriber to get every acknowledged message, once',
    () => {
      const problems = subscribers
        .map((s) => ({ name: s.name, missing: s.missing(stream), duplicates: s.duplicates() }))
        .filter((p) => p.missing.length > 0 || p.duplicates.length > 0);
      if (problems.length === 0) return true;
      throw new Error(
        problems
          .map((p) => `${p.name}: ${p.missing.length} missing (${p.missing.slice(0, 10).join(', ')}…), ${p.duplicates.length} duplicated`)
          .join('; '),
      );
    },
    { timeoutMs, intervalMs: 200 },
  );
}
