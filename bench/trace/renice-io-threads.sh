#!/bin/sh
# Until killed, renices libzmq's I/O threads (ZMQbg/IO) of every Kuzzle node
# on the machine to NICE as they appear (root only; the bench's bare hop and
# load workers are left alone), and appends each thread id it reniced to LOG
# when one is given. Used by io-nice-ab.sh; beside trace-latency.sh:
#   bench/trace/renice-io-threads.sh -10 & bench/trace/trace-latency.sh DIR --quick; kill $!
nice_value=${1:--10}
log=${2:-/dev/null}
while true; do
  for pid in $(pgrep -x node); do
    case "$(tr "\\0" " " 2>/dev/null < "/proc/$pid/cmdline" || true)" in
      *hop-peer*|*bench/main*|*load/worker*|'') continue ;;
    esac
    for task in /proc/"$pid"/task/*; do
      if grep -q '^ZMQbg/IO' "$task/comm" 2>/dev/null && [ "$(cut -d' ' -f19 "$task/stat" 2>/dev/null)" != "$nice_value" ] \
        && renice -n "$nice_value" -p "${task##*/}" >/dev/null; then
        echo "${task##*/}" >>"$log"
      fi
    done
  done
  sleep 0.3
done
