import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process';
import { freePort } from './ports';
import { GiveUpError, waitFor } from './wait';

export const ES_VERSION = process.env.KPC_ES_VERSION ?? '7.17.29';
export const ES_CACHE_DIR = process.env.KPC_CACHE_DIR ?? '/var/cache/kuzzle-plugin-cluster';
/** Elasticsearch refuses to run as root: the system user it runs as then. */
export const ES_USER = process.env.KPC_ES_USER ?? 'kpc-es';

export interface RunningElasticsearch {
  url: string;
  port: number;
  logFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

function javaHome(): string {
  if (process.env.ES_JAVA_HOME) return process.env.ES_JAVA_HOME;
  // ES 7.17 supports Java 17; newer JDKs dropped the security manager it needs.
  const candidates = existsSync('/usr/lib/jvm') ? readdirSync('/usr/lib/jvm') : [];
  const java17 = candidates.find((name) => /^java-17-openjdk/.test(name)) ?? candidates.find((name) => name.includes('17'));
  if (java17) return join('/usr/lib/jvm', java17);
  throw new Error('no Java 17 found under /usr/lib/jvm: run ./dev-npm-install.sh or set ES_JAVA_HOME');
}

/**
 * Starts the cached Elasticsearch (see scripts/fetch-elasticsearch.sh) as a
 * single node on loopback, with its own config, data and log folders in a
 * fresh temp folder the ES user owns, and waits until it is yellow.
 */
export async function startElasticsearch(runDir: string, options: { port?: number } = {}): Promise<RunningElasticsearch> {
  const home = join(ES_CACHE_DIR, `elasticsearch-${ES_VERSION}`);
  if (!existsSync(join(home, '.complete'))) {
    throw new Error(`Elasticsearch ${ES_VERSION} is not in ${home}: run ./dev-npm-install.sh (or scripts/fetch-elasticsearch.sh)`);
  }
  const port = options.port ?? (await freePort());
  const transportPort = await freePort();
  // Outside the work tree: the ES user must be able to traverse every parent.
  const esDir = mkdtempSync(join(tmpdir(), 'kpc-es-'));
  const confDir = join(esDir, 'config');
  mkdirSync(join(esDir, 'logs'));
  mkdirSync(join(esDir, 'data'));
  cpSync(join(home, 'config'), confDir, { recursive: true });
  writeFileSync(
    join(confDir, 'elasticsearch.yml'),
    [
      'discovery.type: single-node',
      'network.host: 127.0.0.1',
      `http.port: ${port}`,
      `transport.port: ${transportPort}`,
      `path.data: ${join(esDir, 'data')}`,
      `path.logs: ${join(esDir, 'logs')}`,
      'xpack.security.enabled: false',
      // Tests fill the disk of small machines: do not turn indexes read-only.
      'cluster.routing.allocation.disk.threshold_enabled: false',
      'action.destructive_requires_name: false',
      '',
    ].join('\n'),
  );
  // jvm.options points at logs/ and data/ relative to ES_HOME, which the ES user cannot write.
  const jvmOptions = join(confDir, 'jvm.options');
  writeFileSync(
    jvmOptions,
    readFileSync(jvmOptions, 'utf8').replace(/=data\b/g, `=${join(esDir, 'data')}`).replace(/logs\//g, `${join(esDir, 'logs')}/`),
  );
  const runAsUser = process.getuid?.() === 0;
  if (runAsUser) {
    chmodSync(esDir, 0o755);
    const uid = Number(execFileSync('id', ['-u', ES_USER]).toString().trim());
    const gid = Number(execFileSync('id', ['-g', ES_USER]).toString().trim());
    chownRecursive(esDir, uid, gid);
  }
  const env = {
    ES_PATH_CONF: confDir,
    ES_JAVA_HOME: javaHome(),
    ES_JAVA_OPTS: process.env.KPC_ES_JAVA_OPTS ?? '-Xms512m -Xmx512m',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
  const logFile = join(runDir, 'elasticsearch.log');
  const binary = join(home, 'bin', 'elasticsearch');
  const proc = runAsUser
    ? new ManagedProcess({
        name: 'elasticsearch',
        command: 'runuser',
        args: ['-u', ES_USER, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), binary],
        logFile,
      })
    : new ManagedProcess({ name: 'elasticsearch', command: binary, args: [], logFile, env: { ...process.env, ...env } });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('elasticsearch to be yellow', async () => {
      if (!proc.alive) throw new GiveUpError(proc.describeExit());
      const response = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`);
      return response.ok;
    }, { timeoutMs: 120_000, intervalMs: 500 });
  } catch (error) {
    await proc.stop(2000);
    rmSync(esDir, { recursive: true, force: true });
    throw new Error(`Elasticsearch did not start: ${(error as Error).message}\n--- ${logFile} ---\n${proc.logTail(60)}`);
  }
  const stop = async (): Promise<void> => {
    await proc.stop(20_000);
    rmSync(esDir, { recursive: true, force: true });
  };
  return { url, port, logFile, process: proc, stop };
}

function chownRecursive(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownRecursive(child, uid, gid);
    else chownSync(child, uid, gid);
  }
}
