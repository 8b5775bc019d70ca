import { join } from 'node:path';
import { after, before } from 'node:test';
import { Http, Kuzzle, WebSocket } from 'kuzzle-sdk';
import { installTestPlugin } from '../../harness/kuzzle-node';
import { killManagedProcessesOnSignal } from '../../harness/managed-process';
import { redisMode } from '../../harness/redis-modes';
import { repoRoot } from '../../harness/run-dir';
import { Stack, type StackOptions } from '../../harness/stack';
import { waitFor } from '../../harness/wait';

killManagedProcessesOnSignal();

/**
 * Starts a stack (Redis, Elasticsearch unless KPC_ES_URL is set, N Kuzzle
 * nodes, HAProxy) before the file's tests and stops it after them, even when
 * they fail. On a failure, the nodes' log tails are printed.
 */
export function useStack(options: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  const clients: Kuzzle[] = [];
  before(async () => {
    // The redis tier reruns functional files on other Redis setups (KPC_STACK_REDIS).
    stack = new Stack({ log: (message) => console.log(`# [stack] ${message}`), ...redisMode(process.env.KPC_STACK_REDIS), ...options });
    try {
      await stack.boot();
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }, { timeout: 300_000 });
  after(async () => {
    for (const client of clients) closeForGood(client);
    await stack?.stop();
  }, { timeout: 120_000 });
  trackedClients = clients;
  return () => {
    if (!stack) throw new Error('stack not started');
    return stack;
  };
}

let trackedClients: Kuzzle[] = [];

/** What {@link closeForGood} changes on an SDK realtime protocol. */
interface ReconnectingProtocol {
  autoReconnect?: boolean;
  connect(): Promise<void>;
}

/**
 * Disconnects an SDK client so that it stays disconnected. kuzzle-sdk 7's
 * `disconnect()` leaves a pending reconnection timer armed: it fires later,
 * connects again if a node answers (the restarted ones do), and that
 * connection keeps the test process alive after its last test.
 */
export function closeForGood(client: Kuzzle): void {
  const protocol = client.protocol as unknown as ReconnectingProtocol;
  protocol.autoReconnect = false;
  protocol.connect = () => Promise.reject(new Error('closed by the test'));
  client.disconnect();
}

/**
 * A kuzzle-sdk client over WebSocket to a port (a node, or the load
 * balancer), closed after the file. `pingInterval`: the SDK drops a
 * connection whose node does not answer its ping within that time.
 */
export async function wsClient(port: number, options: { pingInterval?: number } = {}): Promise<Kuzzle> {
  const kuzzle = new Kuzzle(new WebSocket('127.0.0.1', { port, ...options }), { autoResubscribe: false });
  await kuzzle.connect();
  trackedClients.push(kuzzle);
  return kuzzle;
}

/** One WebSocket client per node, nodes 1 to `count`, in order. */
export async function wsClientsOnNodes(stack: Stack, count: number): Promise<Kuzzle[]> {
  const clients: Kuzzle[] = [];
  for (let node = 1; node <= count; node++) clients.push(await wsClient(portOf(stack, node)));
  return clients;
}

/** A kuzzle-sdk client over HTTP. */
export async function httpClient(port: number): Promise<Kuzzle> {
  const kuzzle = new Kuzzle(new Http('127.0.0.1', { port }));
  await kuzzle.connect();
  trackedClients.push(kuzzle);
  return kuzzle;
}

export function portOf(stack: Stack, node: number): number {
  return stack.node(node).settings.ports.http;
}

/** Creates index and collection if missing (through any node). */
export async function ensureCollection(kuzzle: Kuzzle, index: string, collection: string): Promise<void> {
  if (!(await kuzzle.index.exists(index))) {
    try {
      await kuzzle.index.create(index);
    } catch (error) {
      if (!/already exists/i.test((error as Error).message)) throw error;
    }
  }
  await kuzzle.collection.create(index, collection, {});
}

/** Unique names so test files sharing one Elasticsearch never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Collects notifications of one subscription. */
export class Recorder<T = Record<string, unknown>> {
  readonly items: T[] = [];
  /** Typed loosely so that it fits the SDK's callback type; the test names what it expects. */
  readonly callback = (notification: unknown): void => {
    this.items.push(notification as T);
  };

  async waitCount(count: number, what = 'notifications', timeoutMs = 10_000): Promise<void> {
    await waitFor(`${count} ${what} (got ${this.items.length})`, () => this.items.length >= count, { timeoutMs });
  }
}

/** Raw HTTP call to a node, for routes the SDK has no method for. */
export async function httpJson(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * Loads the fixture plugin (code that runs inside each node: app.cluster, a
 * runtime auth strategy, a heavy request) on the nodes of this file's stack:
 * it must be in Kuzzle's plugins/enabled before the nodes start (copied, so
 * that its `require('kuzzle/…')` finds the Kuzzle that runs it).
 */
export function useFixturePlugin(): void {
  let remove: (() => void) | undefined;
  before(() => {
    remove = installTestPlugin('kpc-sync-fixture', join(repoRoot, 'test', 'functional', 'fixtures', 'kpc-sync-fixture'));
  });
  after(() => remove?.());
}

/** Calls an action of the fixture plugin's controller. */
export const fixtureAction = (kuzzle: Kuzzle, action: string, args: Record<string, unknown> = {}, body?: Record<string, unknown>): Promise<unknown> =>
  kuzzle.query({ controller: 'kpc-fixture', action, ...args, body }).then((response) => response.result);
