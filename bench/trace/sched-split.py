#!/usr/bin/env python3
"""Splits a change's crossing between two Kuzzle nodes, and the bare hop's
beside it, from its start (the change's encoding begun; the hop's send
called) at what the kernel saw: libzmq's I/O thread of the sender woken
and on a core, its sendto, the receiver's I/O thread woken and its recvfrom,
the receiver's main thread woken and on a core, and the JavaScript receive
loop reached. Needs instrument.py's events and `perf script` output of the
same run in one directory (see README.md next to this file):

    python3 bench/trace/sched-split.py DIR      # reads DIR/t-*, DIR/perf.txt

Only changes with no other within 2 ms are followed (their next event at
each stage is their own); a frame counts when it is over 300 bytes
(heartbeats are smaller)."""
import bisect, collections, re, sys
from trace_files import after, isolated, load_events, marked, show, times, trace_dir

out = trace_dir(sys.argv)
LINE = re.compile(r'^\s*(.*?)\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
BIG = 300
# A wait for a core this long is put down to whoever had the core.
LONG_WAIT = 50_000

wakeups, switched_in, switched_out, sends, receives = {}, {}, {}, {}, {}
taken_from = {}  # (tid, ns switched in) → the thread that left the core to it
process_of = {}
for line in open(f'{out}/perf.txt'):
    match = LINE.match(line)
    if not match:
        continue
    _, pid, tid, seconds, event, rest = match.groups()
    pid, tid, ns = int(pid), int(tid), round(float(seconds) * 1e9)
    process_of[tid] = pid
    if event == 'sched:sched_wakeup':
        wakeups.setdefault(int(re.search(r' pid=(\d+)', rest).group(1)), []).append(ns)
    elif event == 'sched:sched_switch':
        gone, came = re.search(r'prev_pid=(\d+) .*next_pid=(\d+)', rest).groups()
        switched_out.setdefault(int(gone), []).append(ns)
        switched_in.setdefault(int(came), []).append(ns)
        taken_from[(int(came), ns)] = int(gone)
    elif event == 'syscalls:sys_enter_sendto' and int(re.search(r'len: (0x[0-9a-f]+)', rest).group(1), 16) > BIG:
        sends.setdefault(tid, []).append(ns)
    elif event == 'syscalls:sys_exit_recvfrom' and BIG < int(rest.strip(), 16) < 1 << 40:
        receives.setdefault(tid, []).append(ns)
for table in (wakeups, switched_in, switched_out, sends, receives):
    for seq in table.values():
        seq.sort()

def io_thread(pid, table):
    """The thread of `pid` (not its main thread) with the most big frames in `table`."""
    threads = [tid for tid in table if process_of.get(tid) == pid and tid != pid]
    return max(threads, key=lambda tid: len(table[tid]), default=None)

def running(tid, at):
    last_in = last_before(switched_in.get(tid, []), at)
    last_out = last_before(switched_out.get(tid, []), at)
    return last_in is not None and (last_out is None or last_in > last_out)

def last_before(seq, at):
    i = bisect.bisect_right(seq, at)
    return seq[i - 1] if i else None

def crossing(label, sender, receiver, starts, js_received=None):
    """Each step from `starts` (a change's encoding started, the bare hop's send called) to the JavaScript receive loop."""
    send_io, receive_io = io_thread(sender, sends), io_thread(receiver, receives)
    if send_io is None or receive_io is None:
        print(f'{label}: no I/O thread with big frames found')
        return
    steps = {}
    waits = collections.Counter()
    add = lambda name, value: steps.setdefault(name, []).append(value)
    for start in starts:
        sent = after(sends[send_io], start)
        if sent is None:
            continue
        woken = after(wakeups.get(send_io, []), start, 2_000_000)
        if woken is not None and woken <= sent:
            on_core = after(switched_in.get(send_io, []), woken)
            add('start → sender I/O thread woken', woken - start)
            if on_core is not None and on_core <= sent:
                add('sender I/O thread woken → on a core', on_core - woken)
                if on_core - woken > LONG_WAIT:
                    gone = taken_from.get((send_io, on_core))
                    waits[('its own main thread' if gone == sender else 'another thread of its process' if process_of.get(gone) == sender
                           else 'an idle core' if gone == 0 else 'another process')] += 1
                add('sender I/O thread on a core → sendto', sent - on_core)
        add('start → sendto (whole)', sent - start)
        got = after(receives[receive_io], sent)
        if got is None:
            continue
        add('sendto → receiver I/O thread recvfrom (whole)', got - sent)
        woken = after(wakeups.get(receive_io, []), sent, 2_000_000)
        if woken is not None and woken <= got:
            add('sendto → receiver I/O thread woken', woken - sent)
        if running(receiver, got):
            add('receiver main thread already on a core at recvfrom', 0)
            on_core = got
        else:
            woken = after(wakeups.get(receiver, []), got)
            on_core = after(switched_in.get(receiver, []), woken) if woken is not None else None
            if on_core is None:
                continue
            add('recvfrom → receiver main thread woken', woken - got)
            add('receiver main thread woken → on a core', on_core - woken)
        if js_received:
            reached = after(js_received, on_core)
            if reached is not None:
                add('receiver main thread on a core → JS receive loop', reached - on_core)
                add('recvfrom → JS receive loop (whole)', reached - got)
                add('start → JS receive loop (whole)', reached - start)
    if waits:
        print(f'{label}: the sender I/O thread waited over {LONG_WAIT // 1000} µs for a core {sum(waits.values())} times; the core was taken from '
              + ', '.join(f'{whom} {n} times' for whom, n in waits.most_common()))
    for name, values in steps.items():
        if name.startswith('receiver main thread already'):
            print(f'{label}: {name}: {len(values)} times')
        else:
            show(f'{label}: {name}', values, 64)

events = load_events(out)
captures = marked(events, 'capture')
publisher = next(pid for pid, seq in events.items() if any(stage == 'capture' for stage, _, _ in seq))
subscriber = max((pid for pid in events if pid != publisher), key=lambda pid: len(times(events[pid], 'dispatch')))
# A heartbeat is received too: only what a change's relay follows.
received = sorted(seq[i][1] for seq in [events[subscriber]] for i in range(len(seq) - 2) if seq[i][0] == 'received' and seq[i + 2][0] == 'relay')
encodes = times(events[publisher], 'encode')
lone = isolated(captures)
starts = [start for _, captured in lone if (start := after(encodes, captured)) is not None]
crossing(f'cluster {publisher}→{subscriber}', publisher, subscriber, starts, received)

# The bare hops measured beside the case (their processes trace hop-send
# and hop-received): each sender paired with the receiver whose loop had
# frames right after its sends most often.
first, last = min(ns for _, ns in lone), max(ns for _, ns in lone)
hop_received = {pid: times(seq, 'hop-received') for pid, seq in events.items() if any(stage == 'hop-received' for stage, _, _ in seq)}
for pid, seq in events.items():
    window = [ns for ns in times(seq, 'hop-send') if first <= ns <= last]
    if len(window) < 100 or not hop_received:
        continue
    reader = max(hop_received, key=lambda other: sum(1 for ns in window if after(hop_received[other], ns, 1_000_000) is not None))
    crossing(f'bare hop {pid}→{reader} beside', pid, reader, window, hop_received[reader])
