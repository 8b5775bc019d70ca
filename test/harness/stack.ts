import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cryptonomicon } from 'kuzzle-vault';
import { curveKeyPair } from 'zeromq';
import { adminToken } from './admin';
import { Haproxy } from './haproxy';
import { managedProcesses } from './managed-process';
import { allocateNodePorts, enableClusterPlugin, KuzzleNode, kuzzleWithoutCluster, kuzzleWithPlugin, type KuzzleNodePorts } from './kuzzle-node';
import { startElasticsearch, type RunningElasticsearch } from './elasticsearch';
import { freePort } from './ports';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type RedisClusterOptions, type RunningRedisCluster } from './redis-cluster';
import { startRedis, type RunningRedis } from './redis-server';
import { newRunDir } from './run-dir';

export interface StackOptions {
  /** Number of Kuzzle nodes (default 3). */
  nodes?: number;
  /**
   * NODE_ENV of the Kuzzle nodes (default `development`: an unhandled
   * rejection then stops the node, which tests want to see). The bench runs
   * `production`, as users do: in development Kuzzle's Bluebird records long
   * stack traces for every promise, which costs more than the plugin does.
   */
  nodeEnv?: 'development' | 'production';
  /** Folder for logs and data (default: a new `.stack/runs/…` folder). */
  runDir?: string;
  /** Load balancer port (default: a free port). */
  lbPort?: number;
  /** Use this Elasticsearch instead of starting one (also `KPC_ES_URL`). */
  esUrl?: string;
  /** `plugins.cluster` options for every node. */
  clusterOptions?: Record<string, unknown>;
  /**
   * Give the plugin its own Redis Cluster through its `redis` option (seed
   * nodes, credentials, TLS), while Kuzzle keeps the standalone Redis:
   * `true` for 3 masters without replicas, or the cluster's shape.
   */
  pluginRedisCluster?: boolean | RedisClusterOptions;
  /**
   * Put Kuzzle's own `services.internalCache` on a Redis Cluster of this
   * shape; the plugin, without a `redis` option, uses it too.
   */
  internalCacheCluster?: RedisClusterOptions;
  /**
   * Put Kuzzle's `services.memoryStorage` (the `ms:*` API) where the plugin
   * keeps its state (the Redis Cluster if any, else database 0 of the
   * standalone Redis), as when one Redis database serves everything.
   * Default: Kuzzle's own default, database 5 of the standalone Redis.
   */
  memoryStorageSharesState?: boolean;
  /** `false`: the nodes run Kuzzle without the cluster plugin (a single node to compare with). */
  plugin?: boolean;
  /** Another build of the plugin (a folder with package.json and dist/) instead of this repository's (see {@link kuzzleWithPlugin}). */
  pluginDir?: string;
  /**
   * Node N binds its cluster sockets on 127.0.0.(10+N) instead of 127.0.0.1,
   * so that the firewall can cut the link between two nodes.
   */
  distinctClusterHosts?: boolean;
  /**
   * CURVE on the cluster ports (default true): the stack generates a key
   * pair and gives every node its secret key: in its configuration, or
   * with 'vault' in Kuzzle's vault (an encrypted secrets file). `false` runs
   * the nodes without keys (allowed on loopback only).
   */
  curve?: boolean | 'vault';
  /** Fixed ports per node (dev.sh); free ports otherwise. */
  nodePorts?: KuzzleNodePorts[];
  log?: (message: string) => void;
}

/**
 * Redis, Elasticsearch, N Kuzzle nodes with this plugin and HAProxy in front,
 * all on loopback. `stop()` always stops everything it started, even after a
 * partial start.
 */
export class Stack {
  readonly nodes: KuzzleNode[] = [];
  redis: RunningRedis | undefined;
  redisCluster: RunningRedisCluster | undefined;
  es: RunningElasticsearch | undefined;
  esUrl = '';
  lb: Haproxy | undefined;
  readonly runDir: string;
  private readonly log: (message: string) => void;
  private stopped = false;
  private token: Promise<string> | undefined;
  private vault: Record<string, string> | undefined;
  private plainKuzzle: string | undefined;
  private otherPluginKuzzle: string | undefined;
  /** The cluster's CURVE key pair, when the stack uses CURVE. */
  readonly curveKeys: { publicKey: string; secretKey: string } | undefined;

  constructor(readonly options: StackOptions = {}) {
    this.runDir = options.runDir ?? newRunDir('stack');
    this.log = options.log ?? (() => undefined);
    this.curveKeys = options.curve === false ? undefined : curveKeyPair();
  }

  /** Starts a whole stack; on failure stops what was started and rethrows. */
  static async start(options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack(options);
    try {
      await stack.boot();
      return stack;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  /** Starts every service; on failure the caller must still call {@link stop}. */
  async boot(): Promise<void> {
    enableClusterPlugin();
    this.log(`logs in ${this.runDir}`);
    this.redis = await startRedis(this.runDir, { name: 'redis' });
    this.log(`redis on 127.0.0.1:${this.redis.port}`);
    const clusterShape = this.options.internalCacheCluster ?? this.options.pluginRedisCluster;
    if (clusterShape) {
      this.redisCluster = await startRedisCluster(this.runDir, clusterShape === true ? {} : clusterShape);
      const user = this.options.internalCacheCluster ? "Kuzzle's internalCache and the plugin" : 'the plugin';
      this.log(`redis cluster for ${user} on ${this.redisCluster.nodes.map((n) => n.port).join(', ')}`);
    }
    const esUrl = this.options.esUrl ?? process.env.KPC_ES_URL;
    if (esUrl) {
      this.esUrl = esUrl;
    } else {
      this.es = await startElasticsearch(this.runDir);
      this.esUrl = this.es.url;
    }
    this.log(`elasticsearch on ${this.esUrl}`);
    const count = this.options.nodes ?? 3;
    // The first node creates Kuzzle's internal index alone; the others then
    // start side by side.
    const first = await this.createNode();
    first.start();
    await first.waitReady();
    this.log(`${first.name} ready on ${first.url}`);
    const others: KuzzleNode[] = [];
    for (let i = 1; i < count; i++) others.push(await this.createNode());
    for (const node of others) node.start();
    for (const node of others) {
      await node.waitReady();
      this.log(`${node.name} ready on ${node.url}`);
    }
    await this.checkNodeVersion();
    this.lb = new Haproxy(this.runDir, this.options.lbPort ?? (await freePort()));
    await this.lb.start(this.backends());
    this.log(`load balancer on ${this.lb.url}`);
  }

  /**
   * With `KPC_KUZZLE_NODE_VERSION` set (the Node-versions tier), fails the
   * boot unless every node reports that Node.js version in `server:info`.
   */
  private async checkNodeVersion(): Promise<void> {
    const expected = process.env.KPC_KUZZLE_NODE_VERSION;
    if (!expected) return;
    for (const node of this.nodes) {
      const response = await fetch(`${node.url}/_serverInfo`);
      const info = (await response.json()) as { result?: { serverInfo?: { kuzzle?: { nodeVersion?: string } } } };
      const actual = info.result?.serverInfo?.kuzzle?.nodeVersion;
      if (actual !== `v${expected}`) throw new Error(`${node.name} runs on node ${String(actual)}, not v${expected}`);
      this.log(`${node.name} runs on node ${actual}`);
    }
  }

  private backends(): Array<{ name: string; port: number }> {
    return this.nodes.map((node) => ({ name: node.name, port: node.settings.ports.http }));
  }

  /**
   * A node with the stack's settings plus `overrides` of its cluster options,
   * created but not started (for tests of nodes that must refuse to start).
   */
  async createNodeWith(overrides: Record<string, unknown>): Promise<KuzzleNode> {
    const node = await this.createNode();
    node.settings.clusterOptions = { ...node.settings.clusterOptions, ...overrides };
    return node;
  }

  private async createNode(): Promise<KuzzleNode> {
    if (!this.redis) throw new Error('redis is not started');
    if (this.stopped) throw new Error('stack stopped');
    const index = this.nodes.length + 1;
    const ports = this.options.nodePorts?.[index - 1] ?? (await allocateNodePorts());
    const node = new KuzzleNode({
      index,
      runDir: this.runDir,
      esUrl: this.esUrl,
      redis: { host: this.redis.host, port: this.redis.port },
      internalCache: this.options.internalCacheCluster ? this.clusterSettings() : undefined,
      memoryStorage: this.options.memoryStorageSharesState ? this.stateSettings() : undefined,
      ports,
      clusterHost: this.options.distinctClusterHosts ? `127.0.0.${10 + index}` : undefined,
      withoutPlugin: this.kuzzleCopy(),
      env: { ...this.vaultEnv(), ...(this.options.nodeEnv ? { NODE_ENV: this.options.nodeEnv } : {}) },
      clusterOptions: {
        ...(this.curveKeys && this.options.curve !== 'vault' ? { curve: { secretKey: this.curveKeys.secretKey } } : {}),
        ...(this.redisCluster && !this.options.internalCacheCluster ? { redis: this.clusterSettings('plugin') } : {}),
        ...this.options.clusterOptions,
      },
    });
    this.nodes.push(node);
    return node;
  }

  /**
   * The Kuzzle copy the nodes run, if not the default install. With another
   * plugin build, the node's readiness check (Kuzzle answering) still proves
   * the plugin joined: Kuzzle listens only after its `kuzzle:state:live` pipe.
   */
  private kuzzleCopy(): string | undefined {
    if (this.options.plugin === false) return this.kuzzleWithoutPlugin();
    if (this.options.pluginDir) return (this.otherPluginKuzzle ??= kuzzleWithPlugin(this.options.pluginDir));
    return undefined;
  }

  /** A copy of Kuzzle with no plugin folder for the cluster (made once per stack). */
  private kuzzleWithoutPlugin(): string {
    return (this.plainKuzzle ??= kuzzleWithoutCluster());
  }

  /**
   * Settings of the Redis Cluster in the shape of Kuzzle's internalCache and
   * of the plugin's `redis` option; `plugin`: with the plugin's own ACL
   * user, if the cluster has one.
   */
  clusterSettings(who: 'kuzzle' | 'plugin' = 'kuzzle'): Record<string, unknown> {
    const cluster = this.redisCluster;
    if (!cluster) throw new Error('no redis cluster');
    const options = who === 'plugin' ? cluster.pluginClientOptions : cluster.clientOptions;
    return { nodes: cluster.nodes, ...(Object.keys(options).length > 0 ? { options } : {}) };
  }

  /** Settings in the shape of Kuzzle's cache services for where the plugin keeps its state. */
  private stateSettings(): Record<string, unknown> {
    if (this.redisCluster) return this.clusterSettings();
    return { node: { host: this.redis?.host ?? '127.0.0.1', port: this.redis?.port ?? 0 }, database: 0 };
  }

  /** A new client (the caller disconnects it) to where the plugin keeps its state: the Redis Cluster if any, else the standalone Redis. */
  stateRedis(): Redis | Cluster {
    if (this.redisCluster) {
      return new Cluster(this.redisCluster.nodes, { redisOptions: { ...this.redisCluster.clientOptions, maxRetriesPerRequest: 1 } });
    }
    return new Redis(this.redis?.port ?? 0, this.redis?.host ?? '127.0.0.1', { maxRetriesPerRequest: 1 });
  }

  /**
   * Adds a node to the running cluster and to the load balancer; `backendScript`
   * makes it a Backend application loading the plugin with `app.plugin.use`.
   */
  async addNode(options: { backendScript?: string } = {}): Promise<KuzzleNode> {
    const node = await this.createNode();
    if (options.backendScript) {
      node.settings.backendScript = options.backendScript;
      node.settings.withoutPlugin = this.kuzzleWithoutPlugin();
    }
    node.start();
    await node.waitReady();
    await this.lb?.start(this.backends());
    this.log(`${node.name} added on ${node.url}`);
    return node;
  }

  /**
   * Redis dies (kill -9) and comes back on the same port with no data (it
   * keeps nothing on disk), as after a crash of a Redis without persistence.
   */
  async restartRedisEmpty(): Promise<void> {
    const redis = this.redis;
    if (!redis) throw new Error('redis is not started');
    redis.process.signal('SIGKILL');
    await redis.process.waitExit();
    this.redis = await startRedis(this.runDir, { name: 'redis', port: redis.port });
  }

  /** In 'vault' mode: the secrets file holding the cluster's key, and the key that decrypts it (one per stack). */
  private vaultEnv(): Record<string, string> | undefined {
    if (this.options.curve !== 'vault' || !this.curveKeys) return undefined;
    if (this.vault) return this.vault;
    const vaultKey = randomBytes(24).toString('hex');
    const file = join(this.runDir, 'secrets.enc.json');
    const secrets = new Cryptonomicon(vaultKey).encryptObject({ cluster: { curve: { secretKey: this.curveKeys.secretKey } } }) as unknown;
    writeFileSync(file, JSON.stringify(secrets));
    this.vault = { KUZZLE_VAULT_KEY: vaultKey, KUZZLE_SECRETS_FILE: file };
    return this.vault;
  }

  /** A JWT of the test administrator (created on first use), for the routes anonymous users may not call. */
  async adminToken(): Promise<string> {
    const live = this.nodes.find((node) => node.alive);
    if (!live) throw new Error('no node is running');
    this.token ??= adminToken(live.url).catch((error: unknown) => {
      this.token = undefined;
      throw error;
    });
    return this.token;
  }

  /** `GET /_plugin/cluster/status` of node `index` (or of the balancer), as the administrator. */
  async clusterStatus<T = Record<string, unknown>>(index: number | 'lb'): Promise<T> {
    const url = index === 'lb' ? this.lb?.url : this.node(index).url;
    let response = await fetch(`${url}/_plugin/cluster/status`, { headers: { authorization: `Bearer ${await this.adminToken()}` } });
    if (response.status === 401) {
      // Tokens live in Redis: a test that emptied it took ours too.
      this.token = undefined;
      response = await fetch(`${url}/_plugin/cluster/status`, { headers: { authorization: `Bearer ${await this.adminToken()}` } });
    }
    const body = (await response.json()) as { result?: T; error?: unknown };
    if (response.status !== 200 || !body.result) throw new Error(`status of ${index}: ${response.status} ${JSON.stringify(body.error)}`);
    return body.result;
  }

  node(index: number): KuzzleNode {
    const node = this.nodes[index - 1];
    if (!node) throw new Error(`no node ${index}`);
    return node;
  }

  /** Stops everything started, in reverse order; never throws. Safe during {@link boot}. */
  async stop(): Promise<void> {
    this.stopped = true;
    const attempts: Array<Promise<unknown>> = [];
    attempts.push(this.lb?.stop() ?? Promise.resolve());
    for (const node of this.nodes) attempts.push(node.stop(10_000));
    await Promise.allSettled(attempts);
    await Promise.allSettled([
      this.es?.stop() ?? Promise.resolve(),
      this.redis?.stop() ?? Promise.resolve(),
      this.redisCluster?.stop() ?? Promise.resolve(),
    ]);
    // A service still starting when stop() was called is not assigned yet: reap it by its folder.
    await Promise.allSettled(
      managedProcesses()
        .filter((proc) => proc.options.logFile.startsWith(this.runDir))
        .map((proc) => proc.stop(5000)),
    );
  }

  /** Log tails of every process, for a failure report. */
  logTails(lines = 30): string {
    return this.nodes.map((node) => `--- ${node.logFile} ---\n${node.logTail(lines)}`).join('\n');
  }
}
