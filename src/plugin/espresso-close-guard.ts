import fs from 'fs';
import { createRequire } from 'module';
import { join } from 'path';
import { describeError } from '../util/describe-error';

/** What espresso-logic-minimizer exports, as far as the guard needs it. */
interface EspressoModule {
  Espresso?: { prototype: { minimize?: unknown } };
}

type Minimize = (this: { tmpfile?: { fd?: unknown } }) => unknown;
type Close = (fd: number, ...rest: unknown[]) => void;

const GUARDED = Symbol.for('kuzzle-plugin-cluster.espresso-close-guard');
/** The fs module tmp calls `close` on (Node's one shared instance), as the guard swaps that method. */
const patchable = fs as unknown as { close: Close };

/**
 * Koncorde 3 (Kuzzle 2.x's realtime engine) minimises every filter of two
 * conditions or more with espresso-logic-minimizer, which writes the truth
 * table to a temporary file, closes its descriptor, then has tmp 0.1 remove
 * the file: tmp closes the same descriptor number again, later, on libuv's
 * threadpool. By then the number may belong to whatever the process opened
 * next (a client's connection, a Redis or Elasticsearch socket, the next
 * filter's table), which that late close shuts under its owner's feet (a
 * subscription failing with EBADF, a connection dropped for no reason).
 * While a table's `minimize()` runs (synchronously: no other JavaScript
 * runs meanwhile), the guard turns tmp's second close of that one
 * descriptor into a no-op; the file is still removed. Returns false when
 * the module has no `Espresso.prototype.minimize` to guard.
 */
export function guardEspressoClose(espresso: EspressoModule): boolean {
  const proto = espresso.Espresso?.prototype;
  const minimize = proto?.minimize;
  if (!proto || typeof minimize !== 'function') return false;
  if (GUARDED in minimize) return true;
  const original = minimize as Minimize;
  const guarded: Minimize = function (this) {
    const fd = this.tmpfile?.fd;
    const close = patchable.close;
    patchable.close = (target: number, ...rest: unknown[]): void => {
      const callback = rest[rest.length - 1];
      if (target === fd && typeof callback === 'function') {
        process.nextTick(callback, null);
        return;
      }
      close.call(patchable, target, ...rest);
    };
    try {
      return original.call(this);
    } finally {
      patchable.close = close;
    }
  };
  Object.defineProperty(guarded, GUARDED, { value: true });
  proto.minimize = guarded;
  return true;
}

/**
 * {@link guardEspressoClose} on the minimiser the Koncorde of the Kuzzle at
 * `kuzzleRoot` loads: says what it did, for the start-up log.
 */
export function guardKoncordeMinimizer(kuzzleRoot: string): string {
  try {
    const koncorde = createRequire(join(kuzzleRoot, 'package.json')).resolve('koncorde');
    const espresso = createRequire(koncorde)('espresso-logic-minimizer') as EspressoModule;
    return guardEspressoClose(espresso)
      ? "Koncorde's filter minimiser guarded against its late close of a reused file descriptor"
      : "Koncorde's filter minimiser has no Espresso.minimize: nothing to guard";
  } catch (error) {
    return `Koncorde's filter minimiser not found, not guarded: ${describeError(error)}`;
  }
}
