#!/bin/sh
# Until killed (or its parent ends), raises the priority of libzmq's I/O
# threads (ZMQbg/IO) of every Kuzzle node a bench run started, as they
# appear (root only; the bench's bare hop and load workers, and processes no
# bench started, are left alone), and appends each thread id it changed to
# LOG when one is given. HOW is one of
#   nice N    renice to N (-20 to 19)
#   fifo P    real-time policy SCHED_FIFO at priority P (1 to 99; chrt)
#   slice US  normal policy, a time slice of US microseconds (100 to 100000,
#             the kernel's bounds; set-slice.py; a thread with a shorter
#             slice may preempt the one running)
#   none 0    change nothing: the same scan every 0.3 s, for the runs as
#             they are to pay what the scan costs the cores too
# Used by io-priority-ab.mjs; beside trace-latency.sh:
#   bench/trace/prioritise-io-threads.sh slice 100 & bench/trace/trace-latency.sh DIR --quick; kill $!
usage="usage: $0 nice N|fifo P|slice US|none 0 [LOG]"
how=${1:?$usage}
value=${2:?$usage}
log=${3:-/dev/null}
here=$(dirname "$0")
parent=$PPID

in_range() { case "$value" in ''|*[!0-9-]*|?*-*) return 1 ;; esac; [ "$value" -ge "$1" ] && [ "$value" -le "$2" ]; }
# changed TASK_DIR: whether the thread already has it (read back, so a thread id reused by a new thread is changed too).
case "$how" in
  nice) in_range -20 19 || { echo "$usage" >&2; exit 2; }
    change() { renice -n "$value" -p "$1" >/dev/null; }
    changed() { [ "$(cut -d' ' -f19 "$1/stat" 2>/dev/null)" = "$value" ]; } ;;
  fifo) in_range 1 99 || { echo "$usage" >&2; exit 2; }
    change() { chrt -f -p "$value" "$1"; }
    changed() { [ "$(cut -d' ' -f41 "$1/stat" 2>/dev/null)" = 1 ]; } ;;
  slice) in_range 100 100000 || { echo "$usage" >&2; exit 2; }
    change() { python3 "$here/set-slice.py" "$1" "$value"; }
    changed() { grep -q "^se\.slice  *: *$((value * 1000))\$" "$1/sched" 2>/dev/null; } ;;
  none) change() { false; }
    changed() { false; } ;;
  *) echo "$usage" >&2; exit 2 ;;
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

while kill -0 "$parent" 2>/dev/null; do
  for pid in $(pgrep -x node); do
    case "$(command_of "$pid")" in
      *hop-peer*|*bench/main*|*paired-latency*|*load/worker*|'') continue ;;
    esac
    from_bench "$pid" || continue
    for task in /proc/"$pid"/task/*; do
      name=
      read -r name 2>/dev/null <"$task/comm" || continue
      case "$name" in ZMQbg/IO*) ;; *) continue ;; esac
      if ! changed "$task" && change "${task##*/}"; then
        echo "${task##*/}" >>"$log"
      fi
    done
  done
  sleep 0.3
done
