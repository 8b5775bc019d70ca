import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { detectIntegration, missingForPlugin, REQUIRED_ASKS } from '../../src/plugin/kuzzle-integration';

/** A Kuzzle that answers exactly these asks (what `hasAskAnswerer` reports). */
const answering = (asks: readonly string[]) => ({ hasAskAnswerer: (event: string) => asks.includes(event) });

describe('integration detected from what Kuzzle answers', () => {
  it('Kuzzle 2.10 (every ask, and index stats): index catch-up checked against Elasticsearch', () => {
    const integration = detectIntegration(answering([...REQUIRED_ASKS, 'core:storage:public:index:stats']), '2.10.4');
    assert.equal(integration.indexStats, true);
    assert.match(integration.description, /^kuzzle 2\.10\.4: using realtime and storage asks, index catch-up checked against Elasticsearch index stats$/);
  });

  it('Kuzzle 2.9 (no index stats ask): the catch-up keeps what Elasticsearch cannot confirm, and the log says so', () => {
    const integration = detectIntegration(answering(REQUIRED_ASKS), '2.9.1');
    assert.equal(integration.indexStats, false);
    assert.match(integration.description, /^kuzzle 2\.9\.1: using .*without Elasticsearch index stats \(no core:storage:public:index:stats/);
  });

  it('a Kuzzle without the realtime asks (2.4-style hotelClerk internals) is refused, naming what is missing and what to do', () => {
    const asks = REQUIRED_ASKS.filter((ask) => !ask.startsWith('core:realtime:'));
    assert.throws(() => detectIntegration(answering(asks), '2.4.0'), (error: Error) => {
      assert.match(error.message, /Kuzzle 2\.4\.0 lacks what this plugin needs: core:realtime:document:dispatch, core:realtime:user:sendMessage/);
      assert.match(error.message, /upgrade Kuzzle/);
      return true;
    });
  });

  it('a Kuzzle without hasAskAnswerer at all cannot be probed: refused', () => {
    assert.match(missingForPlugin({}, '2.4.0') ?? '', /lacks what this plugin needs: kuzzle\.hasAskAnswerer/);
  });
});
