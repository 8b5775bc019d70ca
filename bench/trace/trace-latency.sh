#!/bin/sh
# Runs the latency case with instrument.py's trace points and, when `perf`
# is on the machine and may record (root), the kernel's scheduler and socket
# events of the same run; then prints analyse.py's and sched-split.py's
# tables.
#   bench/trace/trace-latency.sh DIR [bench options, e.g. --quick]
# DIR (created; must not exist or be empty) gets the events (t-*, c-*,
# perf.txt). However the run ends, dist is rebuilt clean and
# bench/RESULTS.md put back as it was (the run's raw JSON stays in
# bench/results).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [bench options]" >&2; exit 2; }
dir=$1; shift
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then echo "$dir is not empty" >&2; exit 2; fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$(dirname "$0")/../.."

perf_pid=
# The bench rewrites RESULTS.md from its run: put back what was there.
saved_results=$(mktemp)
cp bench/RESULTS.md "$saved_results"
cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
  npm run build >/dev/null 2>&1 || echo "npm run build failed: dist may still hold trace points" >&2
  cp "$saved_results" bench/RESULTS.md && rm -f "$saved_results"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

npm run build >/dev/null
KPC_TRACE_DIR="$dir" python3 bench/trace/instrument.py
if command -v perf >/dev/null; then
  # -k mono: perf's times on the monotonic clock, the trace points' clock.
  perf record -a -k mono -o "$dir/perf.data" \
    -e sched:sched_switch,sched:sched_waking,sched:sched_wakeup,syscalls:sys_enter_sendto,syscalls:sys_exit_recvfrom >"$dir/perf.log" 2>&1 &
  perf_pid=$!
  sleep 1
  if ! kill -0 "$perf_pid" 2>/dev/null; then
    echo "perf cannot record here (see $dir/perf.log): no kernel events, sched-split.py skipped" >&2
    perf_pid=
  fi
else
  echo "perf is not installed: no kernel events, sched-split.py skipped" >&2
fi
KPC_TRACE_DIR="$dir" node dist/bench/main.js --cases latency "$@"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  perf_pid=
  perf script -i "$dir/perf.data" -F comm,pid,tid,cpu,time,event,trace >"$dir/perf.txt" 2>/dev/null
  rm -f "$dir/perf.data"
fi
python3 bench/trace/analyse.py "$dir"
[ ! -f "$dir/perf.txt" ] || python3 bench/trace/sched-split.py "$dir"
