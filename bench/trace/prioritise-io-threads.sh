#!/bin/sh
# Until killed, raises the priority of libzmq's I/O threads (ZMQbg/IO) of
# every Kuzzle node a bench run started, as they appear (root only; the
# bench's bare hop and load workers, and processes no bench started, are
# left alone), and appends each thread id it changed to LOG when one is
# given. HOW is one of
#   nice N    renice to N (e.g. -10)
#   fifo P    real-time policy SCHED_FIFO at priority P (chrt)
#   slice US  normal policy, a time slice of US microseconds (set-slice.py;
#             a thread with a shorter slice may preempt the one running)
# Used by io-priority-ab.mjs; beside trace-latency.sh:
#   bench/trace/prioritise-io-threads.sh slice 100 & bench/trace/trace-latency.sh DIR --quick; kill $!
how=${1:?usage: $0 nice N|fifo P|slice US [LOG]}
value=${2:?usage: $0 nice N|fifo P|slice US [LOG]}
log=${3:-/dev/null}
here=$(dirname "$0")

# changed TASK_DIR: whether the thread already has it (read back, so a thread id reused by a new thread is changed too).
case "$how" in
  nice) change() { renice -n "$value" -p "$1" >/dev/null; }
    changed() { [ "$(cut -d' ' -f19 "$1/stat" 2>/dev/null)" = "$value" ]; } ;;
  fifo) change() { chrt -f -p "$value" "$1"; }
    changed() { [ "$(cut -d' ' -f41 "$1/stat" 2>/dev/null)" = 1 ]; } ;;
  slice) change() { python3 "$here/set-slice.py" "$1" "$value"; }
    changed() { grep -q "^se\.slice  *: *$((value * 1000))\$" "$1/sched" 2>/dev/null; } ;;
  *) echo "unknown HOW: $how (nice, fifo or slice)" >&2; exit 2 ;;
esac

command_of() { tr "\\0" " " 2>/dev/null < "/proc/$1/cmdline" || true; }

# Started by a bench run (dist/bench/main.js or paired-latency.mjs): another cluster on the machine, a CI run's say, is left alone.
from_bench() {
  p=$1
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    case "$(command_of "$p")" in *dist/bench/main*|*bench/trace/paired-latency*) return 0 ;; esac
    p=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f2)
  done
  return 1
}

while true; do
  for pid in $(pgrep -x node); do
    case "$(command_of "$pid")" in
      *hop-peer*|*bench/main*|*paired-latency*|*load/worker*|'') continue ;;
    esac
    from_bench "$pid" || continue
    for task in /proc/"$pid"/task/*; do
      if grep -q '^ZMQbg/IO' "$task/comm" 2>/dev/null && ! changed "$task" && change "${task##*/}"; then
        echo "${task##*/}" >>"$log"
      fi
    done
  done
  sleep 0.3
done
