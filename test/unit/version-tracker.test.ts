import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';

import { VersionTracker } from '../../src/sync/version-tracker';

const GAP_WAIT_MS = 30;

/** A tracker whose reloads are recorded as "index/collection". */
function tracker(reload: (index: string, collection: string) => Promise<void> = () => Promise.resolve()): {
  versions: VersionTracker;
  reloads: string[];
} {
  const reloads: string[] = [];
  const versions = new VersionTracker(GAP_WAIT_MS, (index, collection) => {
    reloads.push(`${index}/${collection}`);
    return reload(index, collection);
  });
  return { versions, reloads };
}

describe('VersionTracker', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
  });

  afterEach(() => {
    mock.timers.reset();
  });

  it('never reloads on contiguous versions', () => {
    const { versions, reloads } = tracker();
    for (let v = 1; v <= 50; v++) versions.note('idx', 'col', v);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
    assert.equal(versions.resyncs, 0);
  });

  it('reloads a collection exactly once when a gap is not filled within gapWaitMs', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 1);
    versions.note('idx', 'col', 3);
    // More messages past the hole do not start another timer.
    versions.note('idx', 'col', 4);
    versions.note('idx', 'col', 6);
    mock.timers.tick(GAP_WAIT_MS - 1);
    assert.deepEqual(reloads, [], 'no reload before gapWaitMs');
    mock.timers.tick(1);
    assert.deepEqual(reloads, ['idx/col']);
    assert.equal(versions.resyncs, 1);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, ['idx/col'], 'exactly one reload');
  });

  it('treats a first version above 1 as a gap', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 7);
    mock.timers.tick(GAP_WAIT_MS);
    assert.deepEqual(reloads, ['idx/col']);
  });

  it('does not reload when the gap is filled within gapWaitMs, even out of order', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 1);
    versions.note('idx', 'col', 4);
    versions.note('idx', 'col', 3);
    mock.timers.tick(GAP_WAIT_MS - 1);
    versions.note('idx', 'col', 2);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
    // The tracker knows version 4: 5 is contiguous.
    versions.note('idx', 'col', 5);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
    assert.equal(versions.resyncs, 0);
  });

  it('still reloads when only part of the gap is filled', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 1);
    versions.note('idx', 'col', 5);
    versions.note('idx', 'col', 2);
    versions.note('idx', 'col', 4);
    mock.timers.tick(GAP_WAIT_MS);
    assert.deepEqual(reloads, ['idx/col'], '3 never came');
  });

  it('ignores old and duplicate versions', () => {
    const { versions, reloads } = tracker();
    for (const v of [1, 2, 3, 3, 2, 1, 0, -4, 3, 4]) versions.note('idx', 'col', v);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
  });

  it('tracks each index/collection on its own', () => {
    const { versions, reloads } = tracker();
    versions.note('a:b', 'c', 1);
    versions.note('a', 'b:c', 1);
    versions.note('a', 'b:c', 3);
    versions.note('a:b', 'c', 2);
    mock.timers.tick(GAP_WAIT_MS);
    assert.deepEqual(reloads, ['a/b:c']);
  });

  it('starts a new timer for a gap opened after a reload', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 2);
    mock.timers.tick(GAP_WAIT_MS);
    assert.deepEqual(reloads, ['idx/col']);
    versions.reset('idx', 'col', 2);
    versions.note('idx', 'col', 3);
    versions.note('idx', 'col', 5);
    mock.timers.tick(GAP_WAIT_MS);
    assert.deepEqual(reloads, ['idx/col', 'idx/col']);
    assert.equal(versions.resyncs, 2);
  });

  it('reset() clears a pending gap and sets the known version', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 1);
    versions.note('idx', 'col', 5);
    versions.reset('idx', 'col', 5);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
    versions.note('idx', 'col', 6);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, [], '6 follows the reset version');
  });

  it('reset() never moves the known version back', () => {
    const { versions, reloads } = tracker();
    for (let v = 1; v <= 5; v++) versions.note('idx', 'col', v);
    versions.reset('idx', 'col', 2);
    versions.note('idx', 'col', 3);
    versions.note('idx', 'col', 6);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
  });

  it('reset() keeps versions received past the snapshot', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'col', 1);
    versions.note('idx', 'col', 4);
    versions.note('idx', 'col', 5);
    versions.reset('idx', 'col', 3);
    versions.note('idx', 'col', 6);
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
  });

  it('stop() clears every pending timer', () => {
    const { versions, reloads } = tracker();
    versions.note('idx', 'a', 3);
    versions.note('idx', 'b', 3);
    versions.stop();
    mock.timers.tick(GAP_WAIT_MS * 10);
    assert.deepEqual(reloads, []);
    assert.equal(versions.resyncs, 0);
  });

  it('swallows a failed reload', async () => {
    const { versions, reloads } = tracker(() => Promise.reject(new Error('redis down')));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      versions.note('idx', 'col', 2);
      mock.timers.tick(GAP_WAIT_MS);
      assert.deepEqual(reloads, ['idx/col']);
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
