import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, type RunningRedis } from './redis-server';
import { waitFor } from './wait';

const run = promisify(execFile);

/** A Redis Cluster of masters only, started for one test run. */
export interface RunningRedisCluster {
  /** Seed nodes for a cluster client. */
  nodes: Array<{ host: string; port: number }>;
  servers: RunningRedis[];
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

/**
 * Starts `masters` (at least 3) `redis-server --cluster-enabled yes`, joins
 * them with `redis-cli --cluster create` and waits until every node reports
 * `cluster_state:ok`. On failure every server started is stopped.
 */
export async function startRedisCluster(runDir: string, { masters = 3 }: { masters?: number } = {}): Promise<RunningRedisCluster> {
  const servers: RunningRedis[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((server) => server.stop()));
  };
  const logFile = join(runDir, 'redis-cluster-create.log');
  try {
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort();
      const name = `redis-cluster-${port}`;
      servers.push(
        await startRedis(runDir, {
          port,
          name,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(runDir, name, 'nodes.conf'), '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const addresses = servers.map((server) => `${server.host}:${server.port}`);
    try {
      const { stdout, stderr } = await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 60_000,
      });
      appendFileSync(logFile, stdout + stderr);
    } catch (error) {
      const failed = error as Error & { stdout?: string; stderr?: string };
      appendFileSync(logFile, `${failed.stdout ?? ''}${failed.stderr ?? ''}`);
      throw new Error(`redis-cli --cluster create failed: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    }
    await waitFor(
      'cluster_state:ok on every node',
      async () => {
        for (const server of servers) {
          const { stdout } = await run('redis-cli', ['-h', server.host, '-p', String(server.port), 'cluster', 'info'], { timeout: 5_000 });
          if (!/^cluster_state:ok\s*$/m.test(stdout)) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: servers.map((server) => ({ host: server.host, port: server.port })), servers, stop };
}
