import { ClusterNode } from '../../src/cluster/cluster-node';
import { parseOptions, type ClusterOptions } from '../../src/config/options';
import { StateAvailability } from '../../src/state/availability';
import { curvePublicKey } from '../../src/transport/curve-keys';
import type { SharedState } from '../../src/state/shared-state';
import type { LogLevel } from '../../src/util/log';
import { FakeHost } from './fake-host';
import { MemoryStateServer } from './memory-shared-state';
import { MemoryNetwork, type MemoryTransport } from './memory-transport';
import { PausableScheduler } from './pausable-scheduler';

/** Timers short enough for unit tests, long enough for a loaded machine to keep up. */
export const FAST_TIMERS = {
  heartbeat: 40,
  heartbeatTimeout: 300,
  cardTtl: 600,
  discoverTimeout: 1000,
  joinAttemptInterval: 100,
  waitForMissingRooms: 500,
  antiEntropy: 60_000,
  redisRetry: 0,
};

/** One node of a {@link MemoryCluster}, with its doubles at hand. */
export interface MemoryNode {
  id: string;
  node: ClusterNode;
  transport: MemoryTransport;
  host: FakeHost;
  state: SharedState;
  scheduler: PausableScheduler;
  logs: Array<{ level: LogLevel; message: string }>;
}

/**
 * Real ClusterNodes on doubles: an in-memory network, one in-memory shared
 * state, fake hosts, and schedulers a test can pause. Several nodes run in
 * the test's process; every node started is stopped by {@link stopAll}.
 */
export class MemoryCluster {
  readonly network = new MemoryNetwork();
  readonly server: MemoryStateServer;
  readonly nodes: MemoryNode[] = [];
  readonly options: ClusterOptions;
  private next = 0;

  constructor(overrides: Record<string, unknown> = {}) {
    const timers = { ...FAST_TIMERS, ...((overrides.timers as Record<string, number> | undefined) ?? {}) };
    this.options = parseOptions({ retryJoin: 2, ...overrides, timers });
    this.server = new MemoryStateServer(this.options.timers.cardTtl);
  }

  /**
   * Starts a node; `sockets`: whose sockets it binds (another node's, for a
   * process restarted on its ports); `beforeStart`: runs on the node's
   * doubles before its start (a fault to inject).
   */
  async start(id = `node-${++this.next}`, sockets = id, beforeStart?: (member: MemoryNode) => void): Promise<MemoryNode> {
    const curve = this.options.curve;
    const transport = this.network.transport(id, sockets, curve ? curvePublicKey(curve.secretKey) : undefined);
    const host = new FakeHost();
    const state = this.server.connect();
    const scheduler = new PausableScheduler();
    const logs: MemoryNode['logs'] = [];
    const node = new ClusterNode(
      { id, options: this.options, host, log: (level, message) => void logs.push({ level, message }) },
      { transport, state, availability: new StateAvailability(), scheduler },
    );
    const member: MemoryNode = { id, node, transport, host, state, scheduler, logs };
    this.nodes.push(member);
    beforeStart?.(member);
    await node.connectState();
    await node.start();
    return member;
  }

  /** Kills a node as kill -9 would: nothing of it runs any more, its connections close. */
  async crash(member: MemoryNode): Promise<void> {
    member.scheduler.pause();
    await this.network.crash(member.id);
  }

  /** Freezes a node as SIGSTOP would: no timer runs, nothing it receives is handled, nothing leaves. */
  freeze(member: MemoryNode): void {
    member.scheduler.pause();
    member.transport.freeze();
  }

  thaw(member: MemoryNode): void {
    member.transport.thaw();
    member.scheduler.resume();
  }

  async stopAll(): Promise<void> {
    for (const member of this.nodes) {
      this.thaw(member);
      await member.node.stop().catch(() => undefined);
    }
  }
}
