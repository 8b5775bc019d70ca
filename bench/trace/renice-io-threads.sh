#!/bin/sh
# Until killed, renices libzmq's I/O threads (ZMQbg/IO) of every Kuzzle node
# a bench run started to NICE as they appear (root only; the bench's bare hop
# and load workers, and processes no bench started, are left alone), and
# appends each thread id it reniced to LOG when one is given. Used by io-nice-ab.mjs; beside trace-latency.sh:
#   bench/trace/renice-io-threads.sh -10 & bench/trace/trace-latency.sh DIR --quick; kill $!
nice_value=${1:--10}
log=${2:-/dev/null}

command_of() { tr "\\0" " " 2>/dev/null < "/proc/$1/cmdline" || true; }

# Started by a bench run (dist/bench/main.js): another cluster on the machine, a CI run's say, is left alone.
from_bench() {
  p=$1
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    case "$(command_of "$p")" in *dist/bench/main*) return 0 ;; esac
    p=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)
  done
  return 1
}

while true; do
  for pid in $(pgrep -x node); do
    case "$(command_of "$pid")" in
      *hop-peer*|*bench/main*|*load/worker*|'') continue ;;
    esac
    from_bench "$pid" || continue
    for task in /proc/"$pid"/task/*; do
      if grep -q '^ZMQbg/IO' "$task/comm" 2>/dev/null && [ "$(cut -d' ' -f19 "$task/stat" 2>/dev/null)" != "$nice_value" ] \
        && renice -n "$nice_value" -p "${task##*/}" >/dev/null; then
        echo "${task##*/}" >>"$log"
      fi
    done
  done
  sleep 0.3
done
