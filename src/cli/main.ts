#!/usr/bin/env node
import { curveKeyPair } from 'zeromq';
import { aclSetUser } from '../state/redis-acl';

const USAGE = 'usage: kuzzle-plugin-cluster keygen\n       kuzzle-plugin-cluster redis-acl [user] [clusterName]\n';

/**
 * `npx kuzzle-plugin-cluster keygen`: a new CURVE key pair for a cluster.
 * The secret key goes to every node (plugins.cluster.curve.secretKey, or the
 * vault secret cluster.curve.secretKey); the public key is what `accept`
 * lists while a cluster rolls over from one key to the next.
 *
 * `npx kuzzle-plugin-cluster redis-acl [user] [clusterName]`: the Redis ACL
 * user the plugin needs, least privilege (see README: Redis).
 */
function main(argv: string[]): number {
  const [command, user = 'kuzzle-cluster', clusterName = 'kuzzle'] = argv;
  if (command === 'redis-acl') {
    process.stdout.write(`${aclSetUser(user, clusterName)}\n`);
    return 0;
  }
  if (command !== 'keygen') {
    process.stderr.write(USAGE);
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
