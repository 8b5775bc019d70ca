import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FRAGMENT_MARK, framesOf, isFragment, PARTIAL_MAX_AGE_MS, Reassembler, sendableFrameBytes } from '../../src/transport/fragments';

const limits = { maxFrameBytes: 1024, maxMessageBytes: 16 * 1024 };

/** Feeds frames to a reassembler; returns what came out whole, and the reasons of what was dropped. */
function feed(reassembler: Reassembler, sender: string, frames: Buffer[]): { whole: Buffer[]; dropped: string[] } {
  const whole: Buffer[] = [];
  const dropped: string[] = [];
  for (const frame of frames) {
    const result = isFragment(frame) ? reassembler.accept(sender, frame) : frame;
    if (Buffer.isBuffer(result)) whole.push(result);
    else if (result) dropped.push(result.dropped);
  }
  return { whole, dropped };
}

describe('fragments', () => {
  it('a message that fits in a frame travels as it is; a bigger one in frames within maxFrameBytes, put back together', () => {
    const small = Buffer.from('{"v":3}');
    assert.deepEqual(framesOf(small, 1, limits), [small]);
    const big = randomBytes(10_000);
    const frames = framesOf(big, 7, limits);
    assert.equal(frames.length, Math.ceil(10_000 / (sendableFrameBytes(limits) - 9)));
    // Room left for CURVE's wrapping, which libzmq counts against the peer's limit.
    assert.ok(frames.every((frame) => frame.length <= 1024 - 33 && isFragment(frame)));
    const { whole, dropped } = feed(new Reassembler(limits), 'peer', frames);
    assert.deepEqual(dropped, []);
    assert.ok(whole[0]?.equals(big));
  });

  it('a message within maxMessageBytes from a peer with smaller frames (more fragments) is put back together, not refused for its fragment count', () => {
    const ours = { maxFrameBytes: 64 * 1024, maxMessageBytes: 256 * 1024 };
    const message = randomBytes(200 * 1024);
    const frames = framesOf(message, 3, { ...ours, maxFrameBytes: 1024 });
    const { whole, dropped } = feed(new Reassembler(ours), 'peer', frames);
    assert.deepEqual(dropped, []);
    assert.ok(whole[0]?.equals(message));
  });

  it('a fragment smaller than any peer\'s chunk before the last is refused: a message cannot be held as thousands of tiny parts', () => {
    const fragment = (index: number, count: number, bytes: number): Buffer => {
      const header = Buffer.alloc(9);
      header[0] = FRAGMENT_MARK;
      header.writeUInt32BE(5, 1);
      header.writeUInt16BE(index, 5);
      header.writeUInt16BE(count, 7);
      return Buffer.concat([header, Buffer.alloc(bytes)]);
    };
    const reassembler = new Reassembler({ maxFrameBytes: 64 * 1024, maxMessageBytes: 16 * 1024 * 1024 });
    assert.match(JSON.stringify(reassembler.accept('peer', fragment(0, 20_000, 1))), /smaller than any peer sends/);
    assert.equal(reassembler.accept('peer', fragment(0, 3, 759)), undefined, 'the smallest chunk a peer sends is taken');
  });

  it('a lost fragment abandons its message (counted), and the next message still comes through', () => {
    const reassembler = new Reassembler(limits);
    const first = framesOf(randomBytes(5000), 1, limits);
    const second = randomBytes(5000);
    const { whole, dropped } = feed(reassembler, 'peer', [...first.slice(0, 2), ...first.slice(3), ...framesOf(second, 2, limits)]);
    assert.ok(dropped.some((why) => /out of sequence/.test(why)));
    assert.equal(whole.length, 1);
    assert.ok(whole[0]?.equals(second));
  });

  it('a whole frame after a half-sent message abandons it', () => {
    const reassembler = new Reassembler(limits);
    feed(reassembler, 'peer', framesOf(randomBytes(5000), 1, limits).slice(0, 2));
    assert.match(reassembler.wholeFrame('peer') ?? '', /half-sent/);
    assert.equal(reassembler.wholeFrame('peer'), undefined);
  });

  it('senders are kept apart; no message over maxMessageBytes, and no more than four of them held in all', () => {
    const reassembler = new Reassembler(limits);
    const a = randomBytes(3000);
    const b = randomBytes(3000);
    const fa = framesOf(a, 1, limits);
    const fb = framesOf(b, 1, limits);
    const whole: Buffer[] = [];
    for (let i = 0; i < Math.max(fa.length, fb.length); i++) {
      for (const [sender, frames] of [['a', fa], ['b', fb]] as const) {
        const frame = frames[i];
        const result = frame ? reassembler.accept(sender, frame) : undefined;
        if (Buffer.isBuffer(result)) whole.push(result);
      }
    }
    assert.ok(whole.some((m) => m.equals(a)) && whole.some((m) => m.equals(b)));
    // Announced over the bound: refused from its first fragment.
    const tooBig = framesOf(randomBytes(64 * 1024), 9, { ...limits, maxMessageBytes: 64 * 1024 });
    assert.match(JSON.stringify(reassembler.accept('c', tooBig[0] ?? Buffer.alloc(0))), /over maxMessageBytes/);
    // Many senders each holding part of a message: bounded in total.
    const held = new Reassembler(limits);
    let refused = 0;
    for (let sender = 0; sender < 20; sender++) {
      const frames = framesOf(randomBytes(limits.maxMessageBytes), sender, limits);
      for (const frame of frames.slice(0, -1)) {
        const result = held.accept(`s${sender}`, frame);
        if (result && !Buffer.isBuffer(result)) refused++;
      }
    }
    assert.ok(refused > 0, 'past four messages in all, fragments are refused');
  });

  it('what a gone sender left half-sent is released: the room it held is free for the live ones', () => {
    const reassembler = new Reassembler(limits);
    // Four senders gone mid-message, each holding nearly maxMessageBytes: the whole bound.
    for (let sender = 0; sender < 4; sender++) feed(reassembler, `gone${sender}`, framesOf(randomBytes(limits.maxMessageBytes), sender, limits).slice(0, -1));
    const message = randomBytes(5000);
    assert.ok(feed(reassembler, 'live', framesOf(message, 9, limits)).dropped.length > 0, 'refused while they hold it');
    for (let sender = 0; sender < 4; sender++) reassembler.forget(`gone${sender}`);
    const { whole, dropped } = feed(reassembler, 'live', framesOf(message, 10, limits));
    assert.deepEqual(dropped, []);
    assert.ok(whole[0]?.equals(message));
  });

  it('what a sender never finishes is released once PARTIAL_MAX_AGE_MS passed: it cannot hold the room for good', () => {
    let now = 0;
    const reassembler = new Reassembler(limits, {}, () => now);
    for (let sender = 0; sender < 4; sender++) feed(reassembler, `stuck${sender}`, framesOf(randomBytes(limits.maxMessageBytes), sender, limits).slice(0, -1));
    const message = randomBytes(5000);
    assert.ok(feed(reassembler, 'live', framesOf(message, 9, limits)).dropped.length > 0, 'refused while they hold it');
    now += PARTIAL_MAX_AGE_MS + 1;
    const { whole, dropped } = feed(reassembler, 'live', framesOf(message, 10, limits));
    assert.deepEqual(dropped, []);
    assert.ok(whole[0]?.equals(message));
  });

  it('what a sender left half-sent expires on its own, fragments or not (a quiet ROUTER): counted, and its room freed', () => {
    let now = 0;
    const reassembler = new Reassembler(limits, {}, () => now);
    feed(reassembler, 'gone', framesOf(randomBytes(limits.maxMessageBytes), 1, limits).slice(0, -1));
    assert.equal(reassembler.expire(), 0);
    now += PARTIAL_MAX_AGE_MS + 1;
    assert.equal(reassembler.expire(), 1);
    assert.equal(reassembler.expire(), 0);
  });

  it('a message half-sent moves with its sender to another reassembler (a member\'s connection becoming current between two fragments), within that one\'s budget', () => {
    const shared = new Reassembler(limits);
    const reserved = new Reassembler(limits, { heldMessages: Number.POSITIVE_INFINITY });
    const message = randomBytes(5000);
    const frames = framesOf(message, 3, limits);
    feed(shared, 'member', frames.slice(0, 2));
    shared.moveTo('member', reserved);
    const { whole, dropped } = feed(reserved, 'member', frames.slice(2));
    assert.deepEqual(dropped, []);
    assert.ok(whole[0]?.equals(message));
    assert.equal(shared.expire(), 0);
    // Into a budget that is full: dropped rather than moved.
    const tight = new Reassembler(limits, { heldMessages: 1 });
    feed(tight, 'other', framesOf(randomBytes(limits.maxMessageBytes), 4, limits).slice(0, -1));
    feed(reserved, 'big', framesOf(randomBytes(limits.maxMessageBytes), 5, limits).slice(0, 3));
    reserved.moveTo('big', tight);
    assert.ok(feed(tight, 'big', framesOf(randomBytes(limits.maxMessageBytes), 5, limits).slice(3, 4)).dropped.length > 0, 'not moved: out of sequence there');
  });

  it('garbage fragments are refused, never thrown', () => {
    const reassembler = new Reassembler(limits);
    for (const frame of [Buffer.from([0]), Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), Buffer.concat([Buffer.from([0, 0, 0, 0, 1, 0, 5, 0, 1]), randomBytes(10)])]) {
      const result = reassembler.accept('x', frame);
      assert.ok(result && !Buffer.isBuffer(result), JSON.stringify(result));
    }
  });
});
