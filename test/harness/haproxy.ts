import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process';
import { isListening } from './ports';
import { GiveUpError, waitFor } from './wait';

export interface Backend {
  name: string;
  port: number;
}

/**
 * HAProxy from the system's packages in front of the Kuzzle nodes, for HTTP
 * and WebSocket, sending traffic only to nodes whose
 * `GET /_plugin/cluster/health` answers 200.
 */
export class Haproxy {
  private processes: ManagedProcess[] = [];
  private readonly configFile: string;
  readonly logFile: string;

  constructor(readonly runDir: string, readonly port: number) {
    this.configFile = join(runDir, 'haproxy.cfg');
    this.logFile = join(runDir, 'haproxy.log');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private writeConfig(backends: Backend[]): void {
    const servers = backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check`);
    writeFileSync(
      this.configFile,
      [
        'global',
        '  maxconn 4000',
        'defaults',
        '  mode http',
        '  option http-server-close',
        '  timeout connect 2s',
        '  timeout client 1h',
        '  timeout server 1h',
        // WebSocket connections live in tunnel mode after the upgrade.
        '  timeout tunnel 1h',
        // As README's example: a crashed node, or one refusing requests while
        // it shuts down, is retried on another node.
        '  retries 3',
        '  option redispatch 1',
        '  retry-on conn-failure empty-response 503',
        'frontend kuzzle',
        `  bind 127.0.0.1:${this.port}`,
        '  default_backend kuzzle_nodes',
        'backend kuzzle_nodes',
        '  balance roundrobin',
        '  option httpchk GET /_plugin/cluster/health',
        '  http-check expect status 200',
        '  default-server inter 500ms fall 2 rise 1',
        ...servers,
        '',
      ].join('\n'),
    );
  }

  /** Starts HAProxy, or reloads it with a new backend list (old connections drain). */
  async start(backends: Backend[]): Promise<void> {
    this.writeConfig(backends);
    const previous = this.processes.filter((p) => p.alive).map((p) => String(p.pid));
    const proc = new ManagedProcess({
      name: 'haproxy',
      command: 'haproxy',
      args: ['-db', '-f', this.configFile, ...(previous.length > 0 ? ['-sf', ...previous] : [])],
      logFile: this.logFile,
    });
    this.processes.push(proc);
    try {
      await waitFor('haproxy to listen', async () => {
        if (!proc.alive) throw new GiveUpError(proc.describeExit());
        return isListening(this.port);
      }, { timeoutMs: 10_000 });
    } catch (error) {
      throw new Error(`haproxy did not start: ${(error as Error).message}\n--- ${this.logFile} ---\n${proc.logTail()}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(3000)));
    this.processes = [];
  }
}
