import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadWriteLock } from '../../src/sync/rw-lock';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ReadWriteLock', () => {
  it('runs readers together, a writer alone, and a waiting writer before later readers', async () => {
    const lock = new ReadWriteLock();
    const log: string[] = [];
    let releaseReader!: () => void;
    const reader1 = lock.read(async () => {
      log.push('r1 start');
      await new Promise<void>((resolve) => (releaseReader = resolve));
      log.push('r1 end');
    });
    const reader2 = lock.read(async () => {
      log.push('r2');
    });
    await tick();
    const writer = lock.write(async () => {
      log.push('w start');
      await tick();
      log.push('w end');
    });
    const reader3 = lock.read(async () => {
      log.push('r3');
    });
    await tick();
    assert.deepEqual(log, ['r1 start', 'r2'], 'the writer waits for the running reader; r3 waits behind the writer');
    releaseReader();
    await Promise.all([reader1, reader2, writer, reader3]);
    assert.deepEqual(log, ['r1 start', 'r2', 'r1 end', 'w start', 'w end', 'r3']);
  });

  it('releases the lock when the work fails', async () => {
    const lock = new ReadWriteLock();
    await assert.rejects(lock.write(async () => Promise.reject(new Error('x'))), /x/);
    await assert.rejects(lock.read(async () => Promise.reject(new Error('y'))), /y/);
    assert.equal(await lock.write(async () => 'free'), 'free');
  });
});
