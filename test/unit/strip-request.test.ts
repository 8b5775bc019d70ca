import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { SerializedRequest } from '../../src/plugin/kuzzle-types';
import { stripRequest } from '../../src/plugin/strip-request';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJfaWQiOiJhZG1pbiJ9.c2VjcmV0LXNpZ25hdHVyZQ';

/** What Kuzzle's `request.serialize()` returns for a document creation over WebSocket. */
function serializedRequest(): SerializedRequest {
  return {
    data: {
      _id: 'doc-1',
      action: 'create',
      body: { name: 'Ada', password: 'not-for-peers' },
      collection: 'users-col',
      controller: 'document',
      index: 'app',
      jwt: JWT,
      requestId: 'req-42',
      timestamp: 1732480000000,
      volatile: { client: 'sdk-js', sdkVersion: '7.11.0' },
      refresh: 'wait_for',
      headers: { authorization: `Bearer ${JWT}`, cookie: `authToken=${JWT}` },
    },
    headers: { authorization: `Bearer ${JWT}`, cookie: `authToken=${JWT}; other=1`, 'x-forwarded-for': '10.0.0.1' },
    options: {
      connection: {
        id: 'conn-123',
        protocol: 'websocket',
        ips: ['10.0.0.1', '127.0.0.1'],
        misc: {
          headers: { authorization: `Bearer ${JWT}`, cookie: `authToken=${JWT}`, host: 'kuzzle.example' },
          path: '/',
          verb: 'GET',
        },
      },
      error: null,
      result: { _id: 'doc-1' },
      status: 200,
      token: {
        _id: 'token-id',
        expiresAt: 1732483600000,
        jwt: JWT,
        refreshed: false,
        ttl: 3600000,
        userId: 'admin',
      },
      user: {
        _id: 'admin',
        profileIds: ['admin'],
        credentials: { local: { password: 'hash' } },
      },
    },
  };
}

const FORBIDDEN = [JWT, 'jwt', 'token', 'authorization', 'Authorization', 'cookie', 'Cookie', 'Bearer', 'password', 'profileIds', 'conn-123', '10.0.0.1', 'headers', 'misc'];

describe('stripRequest', () => {
  it('leaves no secret anywhere in the result', () => {
    const text = JSON.stringify(stripRequest(serializedRequest()));
    for (const word of FORBIDDEN) {
      assert.ok(!text.includes(word), `"${word}" found in ${text}`);
    }
  });

  it('keeps what a peer needs to build the notification', () => {
    assert.deepEqual(stripRequest(serializedRequest()), {
      data: {
        _id: 'doc-1',
        action: 'create',
        collection: 'users-col',
        controller: 'document',
        index: 'app',
        requestId: 'req-42',
        timestamp: 1732480000000,
        volatile: { client: 'sdk-js', sdkVersion: '7.11.0' },
      },
      options: { connection: { protocol: 'websocket' } },
    });
  });

  it('leaves the input untouched', () => {
    const input = serializedRequest();
    stripRequest(input);
    assert.deepEqual(input, serializedRequest());
  });

  it('omits absent fields and a connection without a string protocol', () => {
    assert.deepEqual(stripRequest({ data: {}, options: {} }), { data: {}, options: {} });
    assert.deepEqual(stripRequest({ data: { index: 'i', jwt: JWT }, options: { connection: { protocol: 42, id: 'c' } } }), {
      data: { index: 'i' },
      options: {},
    });
    assert.deepEqual(stripRequest({ data: { _id: null, volatile: undefined }, options: { connection: null } }), {
      data: { _id: null },
      options: {},
    });
  });

  it('strips a request whose connection has no protocol (internal call)', () => {
    const input = serializedRequest();
    input.options.connection = { id: 'internal', misc: { headers: { authorization: 'x' } } };
    assert.deepEqual(stripRequest(input).options, {});
  });
});
