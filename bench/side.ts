import { readFileSync } from 'node:fs';
import { KUZZLE_NODE_ENV } from './environment';
import type { Kuzzle } from 'kuzzle-sdk';
import { Kuzzle as KuzzleClient, WebSocket } from 'kuzzle-sdk';
import { Stack } from '../test/harness/stack';
import { waitFor } from '../test/harness/wait';

/** One configuration measured: a single Kuzzle without the plugin, or a cluster with a plugin build. */
export interface SideSpec {
  /** Short name used in results: `single`, `cluster`, `cluster-b`. */
  name: string;
  label: string;
  nodes: number;
  /** `undefined` for no plugin; `'.'` for this repository; otherwise a built plugin folder. */
  plugin: string | undefined;
}

/** The 10 collections the bench spreads rooms over. */
export const COLLECTIONS = Array.from({ length: 10 }, (_, i) => `c${i}`);

/** CPU ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS = 100;

/**
 * A running stack for one side, with the bench's index and collections, and
 * what cases read from its nodes: ports, RSS, CPU, evictions.
 */
export class Side {
  private readonly admins = new Map<number, Kuzzle>();

  private constructor(readonly spec: SideSpec, readonly stack: Stack, readonly index: string) {}

  static async start(spec: SideSpec, esUrl: string, log: (message: string) => void): Promise<Side> {
    const stack = new Stack({
      nodes: spec.nodes,
      esUrl,
      nodeEnv: KUZZLE_NODE_ENV,
      plugin: spec.plugin !== undefined,
      pluginDir: spec.plugin === '.' ? undefined : spec.plugin,
      log: (message) => log(`[${spec.name}] ${message}`),
    });
    try {
      await stack.boot();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    const side = new Side(spec, stack, `bench-${spec.name}-${Date.now().toString(36)}`);
    const client = await side.client();
    await client.index.create(side.index);
    for (const collection of COLLECTIONS) await client.collection.create(side.index, collection, {});
    return side;
  }

  get clustered(): boolean {
    return this.spec.plugin !== undefined;
  }

  /** HTTP/WebSocket port of node `n` (1-based). */
  port(n: number): number {
    return this.stack.node(n).settings.ports.http;
  }

  /** Ports of the side's original nodes, in order. */
  ports(): number[] {
    return Array.from({ length: this.spec.nodes }, (_, i) => this.port(i + 1));
  }

  /** A client of node `n` (1 by default) for the orchestrator's own calls (created once per node). */
  async client(n = 1): Promise<Kuzzle> {
    const existing = this.admins.get(n);
    if (existing) return existing;
    const kuzzle = new KuzzleClient(new WebSocket('127.0.0.1', { port: this.port(n), pingInterval: 120_000, autoReconnect: false }), { autoResubscribe: false });
    await kuzzle.connect();
    this.admins.set(n, kuzzle);
    return kuzzle;
  }

  /** Resident memory of each original node, in MB. */
  rssMb(): number[] {
    return this.pids().map((pid) => {
      const match = /VmRSS:\s+(\d+) kB/.exec(procFile(pid, 'status'));
      return match ? Number(match[1]) / 1024 : Number.NaN;
    });
  }

  /** CPU seconds each original node used so far. */
  cpuSeconds(): number[] {
    return this.pids().map(cpuSecondsOf);
  }

  /** CPU seconds the side's Redis used so far (the one every node shares). */
  redisCpuSeconds(): number {
    return cpuSecondsOf(this.stack.redis?.process.pid ?? 0);
  }

  /** Process ids of the original nodes, in order (0 for one not running). */
  pids(): number[] {
    return Array.from({ length: this.spec.nodes }, (_, i) => this.stack.node(i + 1).process?.pid ?? 0);
  }

  /** Evictions (crashes, timeouts: not graceful leaves) counted by the listed nodes. */
  async evictions(nodes: number[]): Promise<number> {
    let total = 0;
    for (const n of nodes) {
      const status = await this.stack.clusterStatus<{ evictions: Record<string, number> }>(n);
      for (const [reason, count] of Object.entries(status.evictions)) if (reason !== 'left') total += count;
    }
    return total;
  }

  /**
   * Waits until the side holds no room of the bench's index: closing a
   * case's connections removes its rooms in the background, and the next
   * case must not time that cleanup.
   */
  async waitNoRooms(): Promise<void> {
    // A cluster lists every node's rooms; Kuzzles that are not one, each their own.
    const nodes = this.clustered ? [1] : this.ports().map((_, i) => i + 1);
    const clients = await Promise.all(nodes.map((n) => this.client(n)));
    await waitFor('the rooms of the previous case to be removed', async () => {
      for (const client of clients) {
        const response = await client.query({ controller: 'realtime', action: 'list' });
        const collections = ((response.result ?? {}) as Record<string, Record<string, Record<string, number>>>)[this.index] ?? {};
        if (!Object.values(collections).every((rooms) => Object.keys(rooms).length === 0)) return false;
      }
      return true;
    }, { timeoutMs: 300_000, intervalMs: 1000 });
  }

  async stop(): Promise<void> {
    for (const client of this.admins.values()) client.disconnect();
    await this.stack.stop();
  }
}

/** CPU seconds a process used so far, from /proc (all its threads). */
function cpuSecondsOf(pid: number): number {
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const fields = procFile(pid, 'stat').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** A /proc file of a process, empty if the process is gone (a node killed by the kill case). */
function procFile(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}
