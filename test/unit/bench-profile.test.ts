import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldStacks, selfTime, type CpuProfile } from '../../bench/profile/cpu-profile';
import { flameGraph } from '../../bench/profile/flame-graph';

const frame = (functionName: string, url = '', lineNumber = 0): CpuProfile['nodes'][number]['callFrame'] => ({ functionName, url, lineNumber });

/** root → main → { publish (plugin) → send (zeromq), (garbage collector) }, plus idle. */
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5] },
    { id: 2, callFrame: frame('main', 'file:///app/node_modules/kuzzle/lib/a.js', 9), children: [3, 6] },
    { id: 3, callFrame: frame('publish', 'file:///repo/dist/src/bus/message-bus.js', 41), children: [4] },
    { id: 4, callFrame: frame('send', 'file:///repo/node_modules/zeromq/lib/index.js', 1) },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  startTime: 1000,
  endTime: 2000,
  // Sample times: 1100, 1200, 1300, 1400, 1500.
  samples: [4, 4, 3, 5, 6],
  timeDeltas: [100, 100, 100, 100, 100],
};

describe('bench CPU profiles', () => {
  it('folds samples by stack, with short labels, leaving idle out', () => {
    const folded = foldStacks(profile);
    assert.deepEqual(Object.fromEntries(folded), {
      'main kuzzle/lib/a.js:10;publish src/bus/message-bus.js:42;send zeromq/lib/index.js:2': 2,
      'main kuzzle/lib/a.js:10;publish src/bus/message-bus.js:42': 1,
      'main kuzzle/lib/a.js:10;(garbage collector)': 1,
    });
  });

  it('keeps only the samples of a window on the monotonic clock', () => {
    assert.deepEqual([...foldStacks(profile, { fromUs: 1250, toUs: 1450 }).values()], [1]);
  });

  it('ranks self time and draws a flame graph that is valid SVG', () => {
    const folded = foldStacks(profile);
    assert.deepEqual(selfTime(folded, 2).map((entry) => [entry.frame, entry.samples, entry.share]), [
      ['send zeromq/lib/index.js:2', 2, 0.5],
      ['publish src/bus/message-bus.js:42', 1, 0.25],
    ]);
    const svg = flameGraph('a <title> & more', folded);
    assert.match(svg, /^<svg [^]*<\/svg>$/);
    assert.match(svg, /a &lt;title> &amp; more/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 5, 'all, main, publish, send, GC');
    assert.doesNotMatch(svg, /NaN|undefined/);
  });
});
