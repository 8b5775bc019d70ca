import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { roomWeight } from '../../src/state/room-weight';

/** The weight computed over the bytes Node sends for the id, as the Lua side does. */
function overBytes(roomId: string): number {
  let hash = 0;
  for (const byte of Buffer.from(roomId, 'utf8')) hash = (hash * 31 + byte) % 16_777_213;
  return hash + 1;
}

describe('roomWeight', () => {
  it("weighs an id's UTF-8 bytes as Redis receives them, lone surrogates included, without building them", () => {
    for (const roomId of ['', 'a', 'b7c2e0f1d3a4958677aa01', 'é', 'ß日本語', '😀x', 'a\ud800b', 'tail\udc00', '\ud83d', 'z'.repeat(1000)]) {
      assert.equal(roomWeight(roomId), overBytes(roomId), JSON.stringify(roomId));
    }
  });

  it('stays within 1 and 2^24, so that a weight times a count is exact in Lua', () => {
    for (let i = 0; i < 10_000; i++) {
      const weight = roomWeight(`room-${i}-${'x'.repeat(i % 50)}`);
      assert.ok(weight >= 1 && weight < 2 ** 24, String(weight));
    }
  });
});
