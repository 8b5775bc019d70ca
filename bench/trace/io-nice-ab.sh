#!/bin/sh
# Does libzmq's I/O thread of a Kuzzle node wait less, and the cluster add
# less latency, when that thread has a higher priority? sched-split.py saw it
# wait for a core behind its own node's main thread. Runs the quick latency
# case ROUNDS times as it is and ROUNDS times with every Kuzzle node's
# ZMQbg/IO threads reniced to NICE (needs root; the bare hop's processes are
# left alone), alternating, and prints one line per run.
#   bench/trace/io-nice-ab.sh [NICE, default -10] [ROUNDS, default 2]
set -eu
nice_value=${1:--10}
rounds=${2:-2}
cd "$(dirname "$0")/../.."
npm run build >/dev/null

renice_io_threads() {
  while true; do
    for pid in $(pgrep -x node); do
      case "$(tr "\\0" " " 2>/dev/null < "/proc/$pid/cmdline" || true)" in
        *hop-peer*|*bench/main*|*load/worker*|'') continue ;;
      esac
      for task in /proc/"$pid"/task/*; do
        if grep -q '^ZMQbg/IO' "$task/comm" 2>/dev/null; then renice -n "$nice_value" -p "${task##*/}" >/dev/null 2>&1 || true; fi
      done
    done
    sleep 0.3
  done
}

i=0
while [ "$i" -lt "$rounds" ]; do
  for mode in as-is reniced; do
    loop=
    if [ "$mode" = reniced ]; then renice_io_threads & loop=$!; fi
    log=$(mktemp)
    node dist/bench/main.js --quick --cases latency >"$log" 2>&1 || { cat "$log"; [ -z "$loop" ] || kill "$loop"; exit 1; }
    [ -z "$loop" ] || kill "$loop"
    json=$(grep -o 'bench/results/[^ ]*quick\.json' "$log")
    rm -f "$log" "${json%.json}"-*.svg
    node -e '
      const d = require("./" + process.argv[1]);
      const [s200, s1000, c200, c1000] = d.cases.map((c) => c.metrics);
      const ms = (v) => v.toFixed(2);
      console.log(`${process.argv[2].padEnd(8)} ${process.argv[1]}: p50 one Kuzzle ${s200.p50}/${s1000.p50} ms, cluster ${c200.p50}/${c1000.p50}, added ${ms(c200.p50 - s200.p50)}/${ms(c1000.p50 - s1000.p50)}, hop beside ${c200.hopBesideP50}/${c1000.hopBesideP50} (200/s / 1,000/s)`);
    ' "$json" "$mode"
  done
  i=$((i + 1))
done
git checkout bench/RESULTS.md
