import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressedSequences, seqOfTopic, subscriptionsOf, topicFrame, topicPrefixOf } from '../../src/transport/addressing';
import { isFragment } from '../../src/transport/fragments';

describe('addressing', () => {
  it('a topic names its peer and carries its number; a topic for another node, or without a valid number, reads as none', () => {
    const prefix = topicPrefixOf('node-a');
    assert.equal(seqOfTopic(topicFrame('node-a', 1), prefix), 1);
    assert.equal(seqOfTopic(topicFrame('node-a', Number.MAX_SAFE_INTEGER), prefix), Number.MAX_SAFE_INTEGER);
    assert.equal(seqOfTopic(topicFrame('node-ab', 1), prefix), undefined, 'an id that starts with this one is another node');
    assert.equal(seqOfTopic(topicFrame('node-b', 1), prefix), undefined);
    for (const tail of ['', '0', '01', '-1', '1.5', 'abc', '1 ', '99999999999999999']) {
      assert.equal(seqOfTopic(Buffer.concat([prefix, Buffer.from(tail)]), prefix), undefined, `"${tail}"`);
    }
  });

  it('a SUB subscribes to every broadcast (JSON objects, fragments) and to its own topic only', () => {
    const prefixes = subscriptionsOf('node-a');
    const matches = (frame: Buffer): boolean => prefixes.some((prefix) => frame.subarray(0, prefix.length).equals(prefix));
    assert.ok(matches(Buffer.from('{"v":4}')));
    assert.ok(matches(Buffer.from([0, 1, 2])) && isFragment(Buffer.from([0, 1, 2])));
    assert.ok(matches(topicFrame('node-a', 7)));
    assert.equal(matches(topicFrame('node-b', 7)), false);
    assert.equal(matches(topicFrame('node-ab', 7)), false);
    assert.equal(matches(Buffer.from('not json')), false);
  });

  it('numbers each peer\'s messages one after another; a peer met first, or again after being forgotten, starts above every number handed out', () => {
    const seqs = new AddressedSequences();
    assert.deepEqual([seqs.take('a'), seqs.take('a'), seqs.take('b'), seqs.take('a'), seqs.take('b')], [1, 2, 3, 3, 4]);
    seqs.forget('a');
    assert.equal(seqs.take('a'), 5, 'never at or below what a receiver may have kept');
    assert.equal(seqs.take('b'), 5, 'the others go on');
    assert.equal(seqs.take('c'), 6);
  });
});
