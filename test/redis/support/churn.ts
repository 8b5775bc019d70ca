import type { Kuzzle } from 'kuzzle-sdk';

const MAX_FAILURES = 20;

/**
 * Clients that subscribe and unsubscribe in a loop, over many collections
 * (so over many Redis Cluster slots), counting what succeeded, what failed
 * and how long a subscription took: during a failover, subscriptions must
 * wait and succeed, not fail.
 */
export class SubscriptionChurn {
  subscribed = 0;
  readonly failures: string[] = [];
  maxSubscribeMs = 0;
  private running = false;
  private loops: Array<Promise<void>> = [];

  constructor(
    private readonly clients: Kuzzle[],
    private readonly index: string,
    private readonly collections: string[],
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.clients.map((client, c) => this.loop(client, c));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(client: Kuzzle, offset: number): Promise<void> {
    for (let turn = offset; this.running; turn++) {
      const collection = this.collections[turn % this.collections.length] ?? '';
      const started = Date.now();
      let roomId: string;
      try {
        roomId = await client.realtime.subscribe(this.index, collection, { equals: { turn } }, () => undefined);
      } catch (error) {
        this.failures.push(`subscribe ${collection}: ${(error as Error).message}`);
        // A node that fails at once would spin this loop: a few failures are enough to report.
        if (this.failures.length >= MAX_FAILURES) this.running = false;
        continue;
      }
      this.maxSubscribeMs = Math.max(this.maxSubscribeMs, Date.now() - started);
      this.subscribed++;
      try {
        await client.realtime.unsubscribe(roomId);
      } catch (error) {
        this.failures.push(`unsubscribe ${collection}: ${(error as Error).message}`);
      }
    }
  }
}
