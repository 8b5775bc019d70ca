import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, type RunningRedis } from './redis-server';
import { makeTestCertificates, type TestCertificates } from './tls-certs';
import { waitFor } from './wait';

const run = promisify(execFile);

/** Who clients are: `requirepass` (password only) or an ACL user (the default user then disabled). */
export interface RedisClusterAuth {
  user?: string;
  password: string;
  /**
   * With `user`: a second ACL user for the plugin alone, with these rules
   * (README's least-privilege ACL); the harness keeps the first one.
   */
  pluginUser?: { user: string; password: string; rules: string[] };
}

export interface RedisClusterOptions {
  /** Masters (at least 3, default 3). */
  masters?: number;
  /** Replicas per master (default 0). */
  replicas?: number;
  auth?: RedisClusterAuth;
  /** TLS only, on client, cluster bus and replication links, with a CA and certificates made for this run (mutual TLS). */
  tls?: boolean;
  /** `cluster-node-timeout` in ms (default 5000): how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

/** What a client needs besides the seed nodes: the ioredis options of this cluster's credentials and TLS. */
export interface RedisClientOptions {
  username?: string;
  password?: string;
  tls?: { ca: string; cert: string; key: string };
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  /** Slot ranges served (masters only). */
  slots: Array<[number, number]>;
}

/** A Redis Cluster started for one test run. */
export interface RunningRedisCluster {
  /** Seed nodes for a cluster client. */
  nodes: Array<{ host: string; port: number }>;
  servers: RunningRedis[];
  auth: RedisClusterAuth | undefined;
  certificates: TestCertificates | undefined;
  /** ioredis options for this cluster's credentials and TLS (empty without either). */
  clientOptions: RedisClientOptions;
  /** The plugin's: its own ACL user when `auth.pluginUser` is set, else {@link clientOptions}. */
  pluginClientOptions: RedisClientOptions;
  /** Runs redis-cli against one server, with the cluster's credentials and TLS; resolves with its output. */
  cli(server: RunningRedis, args: string[]): Promise<string>;
  /** CLUSTER NODES as seen by a live server. */
  topology(): Promise<ClusterNodeLine[]>;
  /** The live master serving `key`'s slot. */
  masterOf(key: string): Promise<RunningRedis>;
  /** Waits until every slot is served by a live master and every live server says `cluster_state:ok`. */
  waitServing(timeoutMs?: number): Promise<void>;
  /** Stops every server, even if some already died. */
  stop(): Promise<void>;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/**
 * A port whose cluster bus port (port + 10000) is free too: an ephemeral
 * port from the OS could be above 55535, leaving no room for the bus.
 */
async function clusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (handedOut.has(port)) continue;
    if ((await canListen(port)) && (await canListen(port + 10_000))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port pair (port, port + 10000) found for a Redis Cluster node');
}

/** Server arguments for credentials: replicas authenticate to their master with the same ones. */
function authArgs(auth: RedisClusterAuth | undefined): string[] {
  if (!auth) return [];
  const master = ['--masterauth', auth.password];
  if (!auth.user) return ['--requirepass', auth.password, ...master];
  const plugin = auth.pluginUser ? ['--user', auth.pluginUser.user, ...auth.pluginUser.rules, `>${auth.pluginUser.password}`] : [];
  return ['--user', auth.user, 'on', `>${auth.password}`, '~*', '&*', '+@all', ...plugin, '--user', 'default', 'off', '--masteruser', auth.user, ...master];
}

function tlsArgs(certs: TestCertificates | undefined): string[] {
  if (!certs) return [];
  return [
    '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-ca-cert-file', certs.caFile,
    '--tls-auth-clients', 'yes', '--tls-cluster', 'yes', '--tls-replication', 'yes',
  ];
}

/** Parses CLUSTER NODES. */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(' '))
    .filter((fields) => fields.length >= 8)
    .map((fields) => ({
      id: fields[0] ?? '',
      port: Number((fields[1] ?? '').split('@')[0]?.split(':').pop()),
      flags: (fields[2] ?? '').split(','),
      masterId: fields[3] ?? '-',
      slots: fields
        .slice(8)
        .filter((slot) => !slot.startsWith('['))
        .map((slot) => {
          const [from, to] = slot.split('-').map(Number);
          return [from ?? 0, to ?? from ?? 0] as [number, number];
        }),
    }));
}

/**
 * Starts `masters` (at least 3) masters with `replicas` replicas each
 * (`redis-server --cluster-enabled yes`), with a password or an ACL user
 * and optionally TLS, joins them with `redis-cli --cluster create`, and
 * waits until every node reports `cluster_state:ok` and every master has
 * its replicas attached. On failure every server started is stopped.
 */
export async function startRedisCluster(runDir: string, options: RedisClusterOptions = {}): Promise<RunningRedisCluster> {
  const { masters = 3, replicas = 0, auth, nodeTimeoutMs = 5000 } = options;
  const servers: RunningRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  const logFile = join(runDir, 'redis-cluster-create.log');
  const certificates = options.tls ? await makeTestCertificates(join(runDir, 'redis-tls')) : undefined;
  const tlsClient = certificates ? { ca: certificates.ca, cert: certificates.cert, key: certificates.key } : undefined;
  const cliBase = [
    ...(auth?.user ? ['--user', auth.user] : []),
    ...(certificates ? ['--tls', '--cacert', certificates.caFile, '--cert', certificates.certFile, '--key', certificates.keyFile] : []),
  ];
  // The password goes through the environment, not the command line other users can read.
  const cliEnv = { ...process.env, ...(auth ? { REDISCLI_AUTH: auth.password } : {}) };
  const cliRaw = async (args: string[], timeout = 5_000): Promise<string> => {
    const { stdout } = await run('redis-cli', [...cliBase, ...args], { timeout, env: cliEnv });
    return stdout;
  };
  const cli = (server: RunningRedis, args: string[]): Promise<string> => cliRaw(['-h', server.host, '-p', String(server.port), ...args]);
  const live = (): RunningRedis[] => servers.filter((server) => server.process.alive);
  const topology = async (): Promise<ClusterNodeLine[]> => {
    const server = live()[0];
    if (!server) throw new Error('no Redis Cluster server is alive');
    return parseClusterNodes(await cli(server, ['cluster', 'nodes']));
  };
  const byPort = (port: number): RunningRedis | undefined => servers.find((server) => server.port === port);
  const waitServing = async (timeoutMs = 30_000): Promise<void> => {
    await waitFor('every slot served by a live master, cluster_state:ok on every live node', async () => {
      for (const server of live()) {
        if (!/^cluster_state:ok\s*$/m.test(await cli(server, ['cluster', 'info']))) throw new Error(`${server.port}: cluster_state not ok`);
      }
      const lines = await topology();
      const served = lines
        .filter((line) => line.flags.includes('master') && !line.flags.some((flag) => flag.startsWith('fail')) && byPort(line.port)?.process.alive)
        .reduce((total, line) => total + line.slots.reduce((sum, [from, to]) => sum + to - from + 1, 0), 0);
      if (served !== 16384) throw new Error(`${served} of 16384 slots served by live masters`);
      return true;
    }, { timeoutMs, intervalMs: 100 });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await clusterPort();
      const name = `redis-cluster-${port}`;
      servers.push(
        await startRedis(runDir, {
          port,
          name,
          tls: tlsClient,
          auth: auth !== undefined,
          extraArgs: [
            '--cluster-enabled', 'yes', '--cluster-config-file', join(runDir, name, 'nodes.conf'), '--cluster-node-timeout', String(nodeTimeoutMs),
            ...authArgs(auth), ...tlsArgs(certificates),
          ],
        }),
      );
    }
    const addresses = servers.map((server) => `${server.host}:${server.port}`);
    try {
      const output = await cliRaw(['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], 60_000);
      appendFileSync(logFile, output);
    } catch (error) {
      const failed = error as Error & { stdout?: string; stderr?: string };
      appendFileSync(logFile, `${failed.stdout ?? ''}${failed.stderr ?? ''}`);
      throw new Error(`redis-cli --cluster create failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    }
    await waitServing();
    if (replicas > 0) {
      await waitFor(`${replicas} replica(s) in sync with every master`, async () => {
        for (const line of (await topology()).filter((l) => l.flags.includes('master'))) {
          const master = byPort(line.port);
          if (!master) throw new Error(`unknown master port ${line.port}`);
          const info = await cli(master, ['info', 'replication']);
          const online = info.match(/^slave\d+:.*state=online/gm)?.length ?? 0;
          if (online < replicas) throw new Error(`master ${line.port}: ${online} replica(s) online`);
        }
        return true;
      }, { timeoutMs: 30_000, intervalMs: 200 });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const masterOf = async (key: string): Promise<RunningRedis> => {
    const server = live()[0];
    if (!server) throw new Error('no Redis Cluster server is alive');
    const slot = Number((await cli(server, ['cluster', 'keyslot', key])).trim());
    const line = (await topology()).find(
      (l) => l.flags.includes('master') && !l.flags.some((flag) => flag.startsWith('fail')) && l.slots.some(([from, to]) => slot >= from && slot <= to),
    );
    const master = line ? byPort(line.port) : undefined;
    if (!master) throw new Error(`no live master serves slot ${slot} of ${key}`);
    return master;
  };
  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    servers,
    auth,
    certificates,
    clientOptions: {
      ...(auth?.user ? { username: auth.user } : {}),
      ...(auth ? { password: auth.password } : {}),
      ...(tlsClient ? { tls: tlsClient } : {}),
    },
    pluginClientOptions: {
      ...(auth?.pluginUser ? { username: auth.pluginUser.user, password: auth.pluginUser.password } : auth?.user ? { username: auth.user, password: auth.password } : auth ? { password: auth.password } : {}),
      ...(tlsClient ? { tls: tlsClient } : {}),
    },
    cli,
    topology,
    masterOf,
    waitServing,
    stop,
  };
}
