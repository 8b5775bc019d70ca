import type { Cluster, Redis } from 'ioredis';

/**
 * A real client whose transactions (MULTI) wait for `first()` before they
 * are sent: puts another node's work between a step's reads and its write,
 * the interleaving under test. `first()` runs once; every other command
 * goes straight through.
 */
export function holdingTransactions<C extends Redis | Cluster>(client: C, first: () => Promise<unknown>): C {
  let done: Promise<unknown> | undefined;
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'multi') {
        return () => {
          const multi = target.multi();
          const exec = multi.exec.bind(multi);
          multi.exec = async () => {
            done ??= first();
            await done;
            return exec();
          };
          return multi;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
