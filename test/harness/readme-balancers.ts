import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedProcess } from './managed-process';
import { isListening } from './ports';
import { repoRoot } from './run-dir';
import { GiveUpError, waitFor } from './wait';

export type BalancerKind = 'haproxy' | 'nginx';

/**
 * The configuration README shows for a balancer, as written there (the code
 * block after `<!-- example:<kind> -->`), so that a test runs exactly what
 * users copy.
 */
export function readmeExample(kind: BalancerKind): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- example:${kind} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README has no example:${kind} code block`);
  return match[1];
}

/**
 * README's example with its hosts made local: `kuzzle-N:7512` becomes node
 * N's HTTP port on loopback, and the listening port 7512 becomes `lbPort`.
 * Every other line is kept as it is.
 */
export function localizeExample(text: string, nodePorts: readonly number[], lbPort: number): string {
  let replaced = 0;
  const out = text
    .replace(/kuzzle-(\d+):7512/g, (_, n: string) => {
      const port = nodePorts[Number(n) - 1];
      if (port === undefined) throw new Error(`the example names kuzzle-${n}, the stack has ${nodePorts.length} nodes`);
      replaced++;
      return `127.0.0.1:${port}`;
    })
    .replace(/bind \*:7512/, `bind 127.0.0.1:${lbPort}`)
    .replace(/listen 7512;/, `listen 127.0.0.1:${lbPort};`);
  if (replaced !== nodePorts.length) throw new Error(`the example lists ${replaced} nodes, expected ${nodePorts.length}`);
  return out;
}

/** nginx needs a main file around README's `http`-level snippet, with every path in the run folder. */
function nginxMainConfig(dir: string, snippetFile: string): string {
  const root = process.getuid?.() === 0;
  return [
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'nginx.log')} info;`,
    // As root, workers would switch to `nobody`, who cannot write the run folder.
    ...(root ? ['user root;'] : []),
    'events { worker_connections 1024; }',
    'http {',
    `  access_log ${join(dir, 'nginx-access.log')};`,
    `  client_body_temp_path ${join(dir, 'body')};`,
    `  proxy_temp_path ${join(dir, 'proxy')};`,
    `  include ${snippetFile};`,
    '}',
    '',
  ].join('\n');
}

/** HAProxy or nginx from the system's packages, configured with README's example. */
export async function startReadmeBalancer(kind: BalancerKind, runDir: string, nodePorts: readonly number[], lbPort: number): Promise<ManagedProcess> {
  const dir = join(runDir, `readme-${kind}`);
  mkdirSync(dir, { recursive: true });
  const config = localizeExample(readmeExample(kind), nodePorts, lbPort);
  const logFile = join(dir, `${kind}.log`);
  let proc: ManagedProcess;
  if (kind === 'haproxy') {
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, config);
    proc = new ManagedProcess({ name: 'haproxy (README)', command: 'haproxy', args: ['-db', '-f', file], logFile });
  } else {
    const snippet = join(dir, 'kuzzle.conf');
    const main = join(dir, 'nginx.conf');
    writeFileSync(snippet, config);
    writeFileSync(main, nginxMainConfig(dir, snippet));
    proc = new ManagedProcess({ name: 'nginx (README)', command: 'nginx', args: ['-e', logFile, '-p', dir, '-c', main], logFile });
  }
  try {
    await waitFor(`${kind} to listen`, async () => {
      if (!proc.alive) throw new GiveUpError(proc.describeExit());
      return isListening(lbPort);
    }, { timeoutMs: 10_000 });
  } catch (error) {
    await proc.stop(2000);
    throw new Error(`${kind} did not start with README's configuration: ${(error as Error).message}\n--- ${logFile} ---\n${proc.logTail()}`);
  }
  return proc;
}
