#!/usr/bin/env node
import { curveKeyPair } from 'zeromq';

/**
 * `npx kuzzle-plugin-cluster keygen`: a new CURVE key pair for a cluster.
 * The secret key goes to every node (plugins.cluster.curve.secretKey, or the
 * vault secret cluster.curve.secretKey); the public key is what `accept`
 * lists while a cluster rolls over from one key to the next.
 */
function main(argv: string[]): number {
  const [command] = argv;
  if (command !== 'keygen') {
    process.stderr.write('usage: kuzzle-plugin-cluster keygen\n');
    return 2;
  }
  const { publicKey, secretKey } = curveKeyPair();
  process.stdout.write(
    `${JSON.stringify({ publicKey, secretKey }, null, 2)}\n\n` +
      'Keep secretKey secret: set it on every node of the cluster, as plugins.cluster.curve.secretKey in .kuzzlerc\n' +
      'or, better, in Kuzzle\'s vault secrets file under cluster.curve.secretKey.\n',
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
