#!/bin/sh
# Does libzmq's I/O thread of a Kuzzle node wait less, and the cluster add
# less latency, when that thread has a higher priority? sched-split.py saw it
# wait for a core until its own node's main thread slept. Runs the quick
# latency case ROUNDS times as it is and ROUNDS times with every Kuzzle
# node's ZMQbg/IO threads reniced to NICE (root only; the bare hop's
# processes are left alone), alternating, and prints one line per run, with
# how many threads were reniced.
#   bench/trace/io-nice-ab.sh [NICE, default -10] [ROUNDS, default 2]
set -eu
nice_value=${1:--10}
rounds=${2:-2}
cd "$(dirname "$0")/../.."
reniced_log=$(mktemp)
log=$(mktemp)
# The bench rewrites RESULTS.md from each quick run: put back what was there.
saved_results=$(mktemp)
cp bench/RESULTS.md "$saved_results"
loop=
cleanup() {
  [ -z "$loop" ] || kill "$loop" 2>/dev/null || true
  cp "$saved_results" bench/RESULTS.md
  rm -f "$reniced_log" "$log" "$saved_results"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
npm run build >/dev/null

i=0
while [ "$i" -lt "$rounds" ]; do
  for mode in as-is reniced; do
    : >"$reniced_log"
    if [ "$mode" = reniced ]; then bench/trace/renice-io-threads.sh "$nice_value" "$reniced_log" & loop=$!; fi
    node dist/bench/main.js --quick --cases latency >"$log" 2>&1 || { cat "$log"; exit 1; }
    if [ -n "$loop" ]; then kill "$loop"; loop=; fi
    json=$(grep -o 'bench/results/[^ ]*quick\.json' "$log") || { cat "$log"; echo "no results file named in the bench's output" >&2; exit 1; }
    rm -f "${json%.json}"-*.svg
    threads=$(sort -u "$reniced_log" | wc -l)
    node -e '
      const d = require("./" + process.argv[1]);
      const [s200, s1000, c200, c1000] = d.cases.map((c) => c.metrics);
      const ms = (v) => v.toFixed(2);
      console.log(`${process.argv[2].padEnd(8)} ${process.argv[1]}: p50 one Kuzzle ${s200.p50}/${s1000.p50} ms, cluster ${c200.p50}/${c1000.p50}, added ${ms(c200.p50 - s200.p50)}/${ms(c1000.p50 - s1000.p50)}, hop beside ${c200.hopBesideP50}/${c1000.hopBesideP50} (200/s / 1,000/s), ${process.argv[3]} I/O threads reniced`);
    ' "$json" "$mode" "$threads"
  done
  i=$((i + 1))
done
