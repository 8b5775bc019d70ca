import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process';
import { freePort } from './ports';
import { GiveUpError, waitFor } from './wait';

/** A redis-server from the system's packages, started for one test run. */
export interface RunningRedis {
  host: string;
  port: number;
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** PEM texts of a TLS client: the CA to trust, and the client's own certificate and key. */
export interface RedisTlsClient {
  ca: string;
  cert: string;
  key: string;
}

/** Sends one inline command (over TLS when `tls` is given) and returns the first reply line. */
export function redisCommand(port: number, command: string, host = '127.0.0.1', tls?: RedisTlsClient): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ port, host, ...tls }) : createConnection({ port, host });
    let data = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('redis command timed out')));
    socket.once(tls ? 'secureConnect' : 'connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) {
        socket.end();
        resolve(data.split('\r\n')[0] ?? '');
      }
    });
    socket.once('error', reject);
  });
}

export interface StartRedisOptions {
  port?: number;
  name?: string;
  extraArgs?: string[];
  /** The server only listens with TLS on `port` (its arguments come with `extraArgs`): probe it over TLS. */
  tls?: RedisTlsClient;
  /** The server needs a password: NOAUTH to the probe's PING proves it is up. */
  auth?: boolean;
}

/**
 * Starts `redis-server` on a free loopback port (or `port`), persistence off,
 * and waits until it answers PING. On failure the error carries its log tail.
 */
export async function startRedis(runDir: string, options: StartRedisOptions = {}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const name = options.name ?? `redis-${port}`;
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  const logFile = join(runDir, `${name}.log`);
  const proc = new ManagedProcess({
    name,
    command: 'redis-server',
    // With TLS the plain port is closed: only the TLS port listens.
    args: [...(options.tls ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.extraArgs ?? [])],
    logFile,
  });
  try {
    await waitFor(`${name} to answer PING`, async () => {
      if (!proc.alive) throw new GiveUpError(proc.describeExit());
      const reply = await redisCommand(port, 'PING', '127.0.0.1', options.tls);
      return reply === '+PONG' || (options.auth === true && reply.startsWith('-NOAUTH'));
    }, { timeoutMs: 15_000 });
  } catch (error) {
    await proc.stop(1000);
    throw new Error(`${name} did not start: ${(error as Error).message}\n--- ${logFile} ---\n${proc.logTail()}`);
  }
  return { host: '127.0.0.1', port, logFile, process: proc, stop: () => proc.stop(5000) };
}
