// `node bench/trace/warm-path.mjs` (after `npm run build`): what each of
// the plugin's steps on a change's path costs in a warm loop, one process,
// nothing else running: building and serializing a `realtime:publish`
// request like the latency case's, encoding the envelope, decoding it,
// checking the change, rebuilding the request on the receiving node. Put
// beside sched-split.py's in-place times, it tells code that is slow from
// code that runs cold (once per change, among other processes).
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
const require = createRequire(import.meta.url);
const { KuzzleRequest } = require('kuzzle/lib/api/request');
const { stripRequest } = require('../../dist/src/plugin/strip-request.js');
const { encodeEnvelope, decodeEnvelope } = require('../../dist/src/transport/codec.js');
const { PROTOCOL_VERSION } = require('../../dist/src/transport/envelope.js');
const { parseChangeNotice } = require('../../dist/src/sync/messages.js');

const ROUNDS = 20_000;
const request = () =>
  new KuzzleRequest(
    {
      controller: 'realtime',
      action: 'publish',
      index: 'bench',
      collection: 'latency',
      body: { tag: 'latency-200', t: Date.now() + 0.123 },
      volatile: { sdkInstanceId: 'f3c1a1c2-1234-4cde-8f00-112233445566', sdkName: 'js@7.17.1' },
      jwt: 'x'.repeat(200),
    },
    { connection: { id: 'c1', protocol: 'websocket', ips: ['127.0.0.1'], misc: { headers: { host: 'lb' } } } },
  );

function time(label, step) {
  for (let i = 0; i < 2000; i++) step();
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i++) step();
  console.log(`${label.padEnd(48)} ${(((performance.now() - started) * 1000) / ROUNDS).toFixed(2)} µs`);
}

const sample = request();
const notice = { index: 'bench', collection: 'latency', action: 'publish', request: stripRequest(sample.serialize(), { body: true }), documents: [] };
const envelope = { v: PROTOCOL_VERSION, type: 'change:documents', from: 'node-0123456789ab', inc: Date.now(), seq: 12345, body: notice };
const frame = encodeEnvelope(envelope);
const decoded = decodeEnvelope(frame);
const change = parseChangeNotice(decoded.body);
console.log(`frame: ${frame.length} bytes`);
time('publisher: request serialized and stripped', () => stripRequest(sample.serialize(), { body: true }));
time('publisher: envelope encoded', () => encodeEnvelope(envelope));
time('subscriber: envelope decoded', () => decodeEnvelope(frame));
time('subscriber: change checked (parseChangeNotice)', () => parseChangeNotice(decoded.body));
time('subscriber: request rebuilt', () => new KuzzleRequest(change.request.data, change.request.options));
time('(Kuzzle: a request built, for scale)', request);
