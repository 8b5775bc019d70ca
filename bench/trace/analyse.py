#!/usr/bin/env python3
"""Reads the events instrument.py's trace points wrote and prints, per
stage of a change's path, the median and 90th percentile in microseconds.
All processes read the same monotonic clock, so stages on two nodes compare."""
import bisect, glob, os, statistics, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get('KPC_TRACE_DIR', '/tmp/kpc-trace')
events = {}
for path in glob.glob(os.path.join(out, 't-*')):
    rows = [line.split() for line in open(path).read().replace('\\n', '\n').splitlines() if line.strip()]
    events[path] = [(stage, int(ns)) for stage, ns in rows]

def pairs(seq, first, second, then=None):
    """Time from `first` to `second` when they follow each other (and `then` follows)."""
    found = []
    for i in range(len(seq) - 1):
        if seq[i][0] == first and seq[i + 1][0] == second and (then is None or (i + 2 < len(seq) and seq[i + 2][0] == then)):
            found.append(seq[i + 1][1] - seq[i][1])
    return found

def show(label, values):
    if not values:
        return
    values = sorted(values)
    print(f'{label:58} n={len(values):6}  p50 {statistics.median(values) / 1000:7.0f} µs  p90 {values[int(len(values) * 0.9)] / 1000:7.0f} µs')

publishers = [seq for seq in events.values() if any(stage == 'capture' for stage, _ in seq)]
receivers = [seq for seq in events.values() if seq not in publishers]
for seq in publishers:
    show('publisher: change captured → encoding starts', pairs(seq, 'capture', 'encode'))
    show('publisher: encoding starts → libzmq took the frame', pairs(seq, 'encode', 'sent'))
    encoded = [seq[i + 1][1] for i in range(len(seq) - 1) if seq[i][0] == 'capture' and seq[i + 1][0] == 'encode']
    for n, other in enumerate(receivers, 1):
        received = [other[i][1] for i in range(len(other) - 2) if other[i][0] == 'received' and other[i + 2][0] == 'apply']
        dispatched = [ns for stage, ns in other if stage == 'dispatch']
        hop, notified = [], []
        for start in encoded:
            j = bisect.bisect_left(received, start)
            if j < len(received) and received[j] - start < 3_000_000:
                hop.append(received[j] - start)
            k = bisect.bisect_left(dispatched, start)
            if k < len(dispatched) and dispatched[k] - start < 3_000_000:
                notified.append(dispatched[k] - start)
        show(f'node {n}: encoding starts → frame in the receive loop', hop)
        show(f'node {n}: encoding starts → Kuzzle dispatch called', notified)
for n, seq in enumerate(receivers, 1):
    show(f'node {n}: decoding a change', pairs(seq, 'received', 'decoded', 'apply'))
    show(f'node {n}: decoding any message (heartbeats too)', pairs(seq, 'received', 'decoded'))
    show(f'node {n}: change applied → Kuzzle dispatch called', pairs(seq, 'apply', 'dispatch'))
