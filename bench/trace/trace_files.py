"""Reads what instrument.py's trace points wrote (shared by analyse.py and
sched-split.py). Every time is the machine's monotonic clock in ns."""
import bisect, glob, os, statistics

def trace_dir(argv):
    return argv[1] if len(argv) > 1 else os.environ.get('KPC_TRACE_DIR', '/tmp/kpc-trace')

def load_events(out):
    """pid → [(stage, ns, t or None)] of each Kuzzle process, in its order."""
    events = {}
    for path in glob.glob(os.path.join(out, 't-*')):
        rows = [line.split() for line in open(path).read().replace('\\n', '\n').splitlines() if line.strip()]
        events[int(path.rsplit('-', 1)[1])] = [(row[0], int(row[1]), row[2] if len(row) == 3 and row[2] != 'undefined' else None) for row in rows]
    return events

def load_clients(out):
    """(t, sent ns, received ns) of each notification the bench's subscribers timed."""
    clients = []
    for path in glob.glob(os.path.join(out, 'c-*')):
        clients += [(t, int(a), int(b)) for _, t, a, b in (line.split() for line in open(path) if line.strip())]
    return clients

def marked(events, stage):
    """A bench message's `t` → when `stage` (capture, dispatch) first happened to its change, on any node."""
    found = {}
    for seq in events.values():
        for name, ns, t in seq:
            if name == stage and t is not None and (t not in found or ns < found[t]):
                found[t] = ns
    return found

def times(seq, stage):
    return sorted(ns for name, ns, _ in seq if name == stage)

def isolated(captures, gap_ns=2_000_000):
    """The (t, ns) of captures with no other capture within `gap_ns`: for
    these, the next event of each later stage is their own."""
    ordered = sorted(captures.items(), key=lambda item: item[1])
    return [(t, ns) for i, (t, ns) in enumerate(ordered)
            if (i == 0 or ns - ordered[i - 1][1] >= gap_ns) and (i + 1 == len(ordered) or ordered[i + 1][1] - ns >= gap_ns)]

def of_changes(seq, stage, step):
    """Times of `stage` that a change's relay follows `step` events later in
    a node's sequence (a heartbeat is received and decoded too)."""
    return sorted(seq[i][1] for i in range(len(seq) - step) if seq[i][0] == stage and seq[i + step][0] == 'relay')

def rates(clients):
    """A timed message's `t` → its case's rate, told by how many sends fall within 50 ms around it."""
    sends = sorted(sent for _, sent, _ in clients)
    def rate(sent):
        near = bisect.bisect_right(sends, sent + 25_000_000) - bisect.bisect_left(sends, sent - 25_000_000)
        return '1,000/s' if near > 25 else '200/s'
    return {t: rate(sent) for t, sent, _ in clients}

def lone_changes(events, clients):
    """The (t, capture ns) of the changes to follow stage by stage: captures
    with no other within 2 ms, and when the subscribers' times are there,
    only messages they timed at 200/s (no warm-up, none of the 1,000/s
    case's odd lone ones)."""
    lone = isolated(marked(events, 'capture'))
    if not clients:
        return lone
    rate = rates(clients)
    return [(t, ns) for t, ns in lone if rate.get(t) == '200/s']

def roles(events):
    """(publisher's node, subscriber's node, other nodes) among the traced
    Kuzzle processes: most captures of bench messages, most dispatches."""
    nodes = [pid for pid, seq in events.items() if any(stage in ('capture', 'received') for stage, _, _ in seq)]
    if len(nodes) < 2:
        raise SystemExit(f'{len(nodes)} traced Kuzzle node(s): a cluster of two or more is needed')
    publisher = max(nodes, key=lambda pid: sum(1 for stage, _, t in events[pid] if stage == 'capture' and t is not None))
    rest = [pid for pid in nodes if pid != publisher]
    subscriber = max(rest, key=lambda pid: len(times(events[pid], 'dispatch')))
    return publisher, subscriber, [pid for pid in rest if pid != subscriber]

def after(seq, at, within=3_000_000):
    """First time of the sorted `seq` at or after `at`, if within `within` ns."""
    i = bisect.bisect_left(seq, at)
    return seq[i] if i < len(seq) and seq[i] - at < within else None

def show(label, values, width=58):
    if not values:
        return
    values = sorted(values)
    print(f'{label:{width}} n={len(values):6}  p50 {statistics.median(values) / 1000:7.0f} µs  p90 {values[int(len(values) * 0.9)] / 1000:7.0f} µs')
