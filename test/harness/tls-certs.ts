import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway CA and the certificates signed by it, as files and as PEM text. */
export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** PEM contents, for clients configured with text (ioredis `tls: { ca, cert, key }`). */
  ca: string;
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd, timeout: 30_000 });
  } catch (error) {
    const failed = error as Error & { stderr?: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${failed.message}\n${failed.stderr ?? ''}`);
  }
}

/**
 * Generates, for one test run, a CA and one certificate it signs for
 * 127.0.0.1/localhost, used by every Redis server (server side), by their
 * cluster bus and replication links, and by clients (mutual TLS). Nothing
 * is reused between runs: the keys die with the run folder.
 */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  mkdirSync(dir, { recursive: true });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=kpc-test-ca'], dir);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'redis.key', '-out', 'redis.csr', '-subj', '/CN=127.0.0.1'], dir);
  // Clients check the server's name: loopback by address and by name.
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await openssl(
    ['x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'redis.crt', '-days', '2', '-extfile', 'san.cnf'],
    dir,
  );
  const files = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'redis.crt'), keyFile: join(dir, 'redis.key') };
  return {
    ...files,
    ca: readFileSync(files.caFile, 'utf8'),
    cert: readFileSync(files.certFile, 'utf8'),
    key: readFileSync(files.keyFile, 'utf8'),
  };
}
