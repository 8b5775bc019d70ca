/**
 * A room's weight in an owner's checksum of a collection (the sum of each
 * room's weight times the owner's subscribers there), which the drift
 * check compares besides the totals: a count moved from one room to
 * another (a batch applied twice after its reply was lost, two changes
 * lost together in a failover) leaves both totals equal. The Lua side
 * (lua/includes/adjustRoom.lua, roomWeight) computes the same over the
 * id's UTF-8 bytes, as Redis receives them.
 *
 * Weights stay below 2^24 so that a weight times any count stays exact in
 * Lua's doubles (Redis formats numbers with 14 significant digits) and a
 * collection's sum exact in JavaScript's numbers.
 */
const MODULUS = 16_777_213;

const step = (hash: number, byte: number): number => (hash * 31 + byte) % MODULUS;

export function roomWeight(roomId: string): number {
  let hash = 0;
  // UTF-8 bytes written out, so that a drift check over every room allocates nothing.
  for (let i = 0; i < roomId.length; i++) {
    let code = roomId.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = roomId.charCodeAt(i + 1);
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        // A lone surrogate: Node sends U+FFFD in its place.
        code = 0xfffd;
      }
    }
    if (code < 0x80) {
      hash = step(hash, code);
    } else if (code < 0x800) {
      hash = step(step(hash, 0xc0 | (code >> 6)), 0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      hash = step(step(step(hash, 0xe0 | (code >> 12)), 0x80 | ((code >> 6) & 0x3f)), 0x80 | (code & 0x3f));
    } else {
      hash = step(step(step(step(hash, 0xf0 | (code >> 18)), 0x80 | ((code >> 12) & 0x3f)), 0x80 | ((code >> 6) & 0x3f)), 0x80 | (code & 0x3f));
    }
  }
  return hash + 1;
}

/** The field of a collection's owners hash that holds an owner's checksum (owners never hold a line break). */
export const checksumField = (owner: string): string => `${owner}\nchecksum`;
