import { cpSync, existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ManagedProcess } from './managed-process';
import { freePort } from './ports';
import { repoRoot } from './run-dir';
import { GiveUpError, waitFor } from './wait';

/** Where one Kuzzle node listens. */
export interface KuzzleNodePorts {
  http: number;
  router: number;
  pub: number;
}

export interface KuzzleNodeSettings {
  /** 1-based node number, used in names and logs. */
  index: number;
  runDir: string;
  esUrl: string;
  redis: { host: string; port: number };
  /** Kuzzle's `services.internalCache` instead of the standalone `redis` (e.g. a Redis Cluster with credentials and TLS). */
  internalCache?: Record<string, unknown>;
  /** Kuzzle's `services.memoryStorage` instead of database 5 of the standalone `redis`. */
  memoryStorage?: Record<string, unknown>;
  ports: KuzzleNodePorts;
  /** Loopback address the cluster sockets bind and connect from (default 127.0.0.1): a firewall rule can name the node by it. */
  clusterHost?: string;
  /** Extra `plugins.cluster` options, merged over the stack's. */
  clusterOptions?: Record<string, unknown>;
  /** Runs {@link kuzzleWithoutCluster}'s copy: one Kuzzle without the plugin. */
  withoutPlugin?: string;
  /**
   * A script to run instead of Kuzzle's own start script: a Backend
   * application (it receives the Kuzzle root and the repository root as
   * arguments). It runs on {@link kuzzleWithoutCluster}'s copy, so the
   * plugin is only what the script loads.
   */
  backendScript?: string;
  /** Extra environment variables of the Kuzzle process (e.g. its vault key and secrets file). */
  env?: Record<string, string>;
  /** Extra Kuzzle configuration merged at the top level (shallow). */
  kuzzleConfig?: Record<string, unknown>;
}

/**
 * The Kuzzle install the nodes run: this repository's own by default, or one
 * whose native modules are built for another Node.js (`KPC_KUZZLE_ROOT`, a
 * `…/node_modules/kuzzle` folder made by scripts/node-runtime.mjs).
 */
export const kuzzleRoot = process.env.KPC_KUZZLE_ROOT ?? join(repoRoot, 'node_modules', 'kuzzle');
/**
 * The Node.js binary the Kuzzle nodes run on (`KPC_KUZZLE_NODE`); the tests
 * and the harness itself always run on the Node that started them.
 */
export const kuzzleNodeBinary = process.env.KPC_KUZZLE_NODE ?? process.execPath;

/**
 * Makes Kuzzle load this repository as the `cluster` plugin from
 * `plugins/enabled/cluster`, exactly as users install a plugin.
 */
export function enableClusterPlugin(): void {
  const enabled = join(kuzzleRoot, 'plugins', 'enabled');
  const link = join(enabled, 'cluster');
  mkdirSync(enabled, { recursive: true });
  if (existsSync(link) || isSymlink(link)) {
    if (isSymlink(link) && readlinkSync(link) === repoRoot) return;
    rmSync(link, { recursive: true, force: true });
  }
  symlinkSync(repoRoot, link, 'dir');
}

/**
 * Copies a test plugin folder into Kuzzle's `plugins/enabled/<name>` (a copy,
 * not a link: its `require('kuzzle/…')` must find the Kuzzle that runs it,
 * whatever {@link kuzzleRoot} is). Returns the function that removes it.
 */
export function installTestPlugin(name: string, dir: string): () => void {
  const target = join(kuzzleRoot, 'plugins', 'enabled', name);
  rmSync(target, { recursive: true, force: true });
  cpSync(dir, target, { recursive: true });
  return () => rmSync(target, { recursive: true, force: true });
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * A copy of the Kuzzle install without the cluster plugin (its dependencies
 * resolve from the repository's node_modules, above it): one Kuzzle as users
 * run it without the plugin, for comparisons.
 */
export function kuzzleWithoutCluster(): string {
  const copy = join(repoRoot, '.stack', 'kuzzle-without-cluster');
  rmSync(copy, { recursive: true, force: true });
  cpSync(kuzzleRoot, copy, { recursive: true, dereference: false, filter: (source) => !source.startsWith(join(kuzzleRoot, 'plugins', 'enabled')) });
  mkdirSync(join(copy, 'plugins', 'enabled'), { recursive: true });
  return copy;
}

/**
 * A copy of the Kuzzle install whose `cluster` plugin is another build of
 * this plugin (the bench's `--plugin DIR`, to compare two builds). The build
 * is copied outside the Kuzzle copy and linked in, so that its dependencies
 * resolve from its own node_modules, if it has one, else from this
 * repository's, never from Kuzzle's nested (older) ioredis or uuid.
 */
export function kuzzleWithPlugin(dir: string): string {
  const name = basename(resolve(dir)).replace(/[^\w.-]/g, '_');
  const build = join(repoRoot, '.stack', 'plugin-builds', name);
  rmSync(build, { recursive: true, force: true });
  // What Kuzzle loads (the package's `files`), not the sources or the tests.
  for (const entry of ['package.json', 'manifest.json', join('dist', 'src')]) cpSync(join(dir, entry), join(build, entry), { recursive: true });
  if (existsSync(join(dir, 'node_modules'))) symlinkSync(join(resolve(dir), 'node_modules'), join(build, 'node_modules'), 'dir');
  const copy = join(repoRoot, '.stack', `kuzzle-with-${name}`);
  rmSync(copy, { recursive: true, force: true });
  cpSync(kuzzleRoot, copy, { recursive: true, dereference: false, filter: (source) => !source.startsWith(join(kuzzleRoot, 'plugins', 'enabled')) });
  mkdirSync(join(copy, 'plugins', 'enabled'), { recursive: true });
  symlinkSync(build, join(copy, 'plugins', 'enabled', 'cluster'), 'dir');
  return copy;
}

export async function allocateNodePorts(): Promise<KuzzleNodePorts> {
  return { http: await freePort(), router: await freePort(), pub: await freePort() };
}

/**
 * The .kuzzlerc of one node of the local stack. docker-compose/ holds the
 * same configuration for Docker users: a unit test compares them.
 */
export function nodeConfig(settings: KuzzleNodeSettings): Record<string, unknown> {
  const { esUrl, redis, ports, clusterOptions, kuzzleConfig } = settings;
  const host = settings.clusterHost ?? '127.0.0.1';
  return {
    server: { port: ports.http, protocols: { mqtt: { enabled: false } } },
    services: {
      storageEngine: { client: { node: esUrl }, commonMapping: { dynamic: 'true' } },
      internalCache: settings.internalCache ?? { node: { host: redis.host, port: redis.port } },
      memoryStorage: settings.memoryStorage ?? { node: { host: redis.host, port: redis.port } },
    },
    plugins: {
      common: { initTimeout: 60_000, pipeWarnTime: 5_000 },
      'kuzzle-plugin-logger': { services: { stdout: { level: 'info' } } },
      // The test fixture plugin, when a test loads it (useFixturePlugin).
      'kpc-sync-fixture': { privileged: true },
      cluster: {
        privileged: true,
        bindings: { router: `tcp://${host}:${ports.router}`, pub: `tcp://${host}:${ports.pub}` },
        ...clusterOptions,
      },
    },
    ...kuzzleConfig,
  };
}

/** One Kuzzle 2.10.4 process with the plugin, configured through its own rc file. */
export class KuzzleNode {
  process: ManagedProcess | undefined;
  readonly name: string;
  readonly logFile: string;
  private readonly rcFile: string;

  constructor(readonly settings: KuzzleNodeSettings) {
    this.name = `kuzzle-${settings.index}`;
    this.logFile = join(settings.runDir, `${this.name}.log`);
    this.rcFile = join(settings.runDir, `${this.name}.kuzzlerc.json`);
  }

  /** The address of this node's cluster sockets. */
  get clusterHost(): string {
    return this.settings.clusterHost ?? '127.0.0.1';
  }

  get url(): string {
    return `http://127.0.0.1:${this.settings.ports.http}`;
  }

  get alive(): boolean {
    return this.process?.alive ?? false;
  }

  private writeConfig(): void {
    writeFileSync(this.rcFile, JSON.stringify(nodeConfig(this.settings), null, 2));
  }

  /** Starts the process (does not wait: see {@link waitReady}). */
  start(): void {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.writeConfig();
    this.process = new ManagedProcess({
      name: this.name,
      command: kuzzleNodeBinary,
      args: [
        // Extra Node options for the Kuzzle processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where a node spends its time.
        ...(process.env.KPC_KUZZLE_NODE_ARGS ?? '').split(' ').filter(Boolean),
        ...(this.settings.backendScript
          ? [this.settings.backendScript, this.settings.withoutPlugin ?? kuzzleRoot, repoRoot]
          : [join(this.settings.withoutPlugin ?? kuzzleRoot, 'bin', 'start-kuzzle-server')]),
      ],
      logFile: this.logFile,
      cwd: this.settings.runDir,
      env: {
        ...process.env,
        kuzzle_config: this.rcFile,
        NODE_ENV: 'development',
        DEBUG: process.env.KPC_KUZZLE_DEBUG ?? '',
        ...this.settings.env,
      },
    });
  }

  /**
   * Waits until Kuzzle answers and the plugin reports this node joined: its
   * health route answers 200, or 503 for another reason than not having
   * joined (fewer nodes than minimumNodes). Health is the one route
   * anonymous users may call.
   */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    try {
      await waitFor(`${this.name} to be ready`, async () => {
        if (!this.alive) throw new GiveUpError(this.process?.describeExit() ?? `${this.name} not started`);
        // Without the plugin, Kuzzle answering is enough.
        if (this.settings.withoutPlugin !== undefined && !this.settings.backendScript) return (await fetch(`${this.url}/_now`)).status === 200;
        const response = await fetch(`${this.url}/_plugin/cluster/health`);
        if (response.status === 200) return true;
        const body = (await response.json()) as { error?: { message?: string } };
        return response.status === 503 && !/not joined/.test(body.error?.message ?? 'not joined');
      }, { timeoutMs, intervalMs: 250 });
    } catch (error) {
      throw new Error(`${this.name} did not become ready: ${(error as Error).message}\n--- ${this.logFile} ---\n${this.logTail()}`);
    }
  }

  logTail(lines = 60): string {
    return this.process?.logTail(lines) ?? '(never started)';
  }

  /** Graceful stop: SIGTERM, as an operator's `kill` or Ctrl-C. */
  async stop(graceMs = 15_000): Promise<void> {
    await this.process?.stop(graceMs);
  }

  /** kill -9: a crash, with no chance to leave the cluster. */
  async kill(): Promise<void> {
    this.process?.signal('SIGKILL');
    await this.process?.waitExit();
  }

  freeze(): void {
    this.process?.signal('SIGSTOP');
  }

  thaw(): void {
    this.process?.signal('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop();
    this.start();
    await this.waitReady();
  }
}
