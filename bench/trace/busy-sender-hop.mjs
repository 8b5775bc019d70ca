// `node bench/trace/busy-sender-hop.mjs BUSY_US...` (after `npm run build`):
// the bench's bare hop (PUB → SUB with CURVE between two Node processes,
// ~600-byte JSON, 1,000/s, 1 s of warm-up then 7 s measured) with the
// sender's main thread spinning BUSY_US after each send, as a Kuzzle node
// goes on with a request after handing its change to libzmq; one line per
// value, with the hop's p50. Does waiting for the main thread delay
// libzmq's I/O thread on the way out?
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { HopPair } = require('../../dist/bench/hop/bare-hop.js');
const { now } = require('../../dist/bench/load/clock.js');

const busyValues = process.argv.slice(2).map(Number);
const pair = await HopPair.open(true);
try {
  for (const busyUs of busyValues.length > 0 ? busyValues : [0]) {
    const { p50, samples } = await pair.measure(1000, now() + 200, 1000, 7000, busyUs);
    console.log(`sender busy ${busyUs} µs after each send: hop p50 ${Math.round((p50 ?? Number.NaN) * 1000)} µs (${samples} messages)`);
  }
} finally {
  pair.stop();
}
