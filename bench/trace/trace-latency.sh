#!/bin/sh
# Runs the latency case with instrument.py's trace points and, when `perf`
# is on the machine, the kernel's scheduler and socket events of the same
# run; then prints analyse.py's and sched-split.py's tables.
#   bench/trace/trace-latency.sh DIR [bench options, e.g. --quick]
# DIR gets the events (t-*, c-*, perf.txt); dist is rebuilt clean afterwards
# and bench/RESULTS.md restored (the run's raw JSON stays in bench/results).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [bench options]" >&2; exit 2; }
dir=$(realpath -m "$1"); shift
cd "$(dirname "$0")/../.."
rm -rf "$dir" && mkdir -p "$dir"
npm run build >/dev/null
KPC_TRACE_DIR="$dir" python3 bench/trace/instrument.py
perf_pid=
if command -v perf >/dev/null; then
  # -k mono: perf's times on the monotonic clock, the trace points' clock.
  perf record -a -k mono -o "$dir/perf.data" \
    -e sched:sched_switch,sched:sched_wakeup,syscalls:sys_enter_sendto,syscalls:sys_exit_recvfrom >"$dir/perf.log" 2>&1 &
  perf_pid=$!
  sleep 1
fi
status=0
KPC_TRACE_DIR="$dir" node dist/bench/main.js --cases latency "$@" || status=$?
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  perf script -i "$dir/perf.data" -F comm,pid,tid,cpu,time,event,trace >"$dir/perf.txt" 2>/dev/null
  rm -f "$dir/perf.data"
fi
npm run build >/dev/null
git checkout bench/RESULTS.md
[ "$status" -eq 0 ] || exit "$status"
python3 bench/trace/analyse.py "$dir"
[ -z "$perf_pid" ] || python3 bench/trace/sched-split.py "$dir"
