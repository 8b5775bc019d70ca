import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
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

/** Sends one inline command and returns the first reply line. */
export function redisCommand(port: number, command: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host });
    let data = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('redis command timed out')));
    socket.once('connect', () => socket.write(`${command}\r\n`));
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

/**
 * Starts `redis-server` on a free loopback port (or `port`), persistence off,
 * and waits until it answers PING. On failure the error carries its log tail.
 */
export async function startRedis(runDir: string, options: { port?: number; name?: string; extraArgs?: string[] } = {}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const name = options.name ?? `redis-${port}`;
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  const logFile = join(runDir, `${name}.log`);
  const proc = new ManagedProcess({
    name,
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.extraArgs ?? [])],
    logFile,
  });
  try {
    await waitFor(`${name} to answer PING`, async () => {
      if (!proc.alive) throw new GiveUpError(proc.describeExit());
      return (await redisCommand(port, 'PING')) === '+PONG';
    }, { timeoutMs: 15_000 });
  } catch (error) {
    await proc.stop(1000);
    throw new Error(`${name} did not start: ${(error as Error).message}\n--- ${logFile} ---\n${proc.logTail()}`);
  }
  return { host: '127.0.0.1', port, logFile, process: proc, stop: () => proc.stop(5000) };
}
