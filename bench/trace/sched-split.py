#!/usr/bin/env python3
"""Splits a change's crossing between two Kuzzle nodes, and the bare hop's
beside it, from its start (the change's encoding begun; the hop's send
called) at what the kernel saw: libzmq's I/O thread of the sender woken
and on a core, its sendto, the receiver's I/O thread's recvfrom, the
receiver's main thread woken and on a core, and the JavaScript receive
loop reached. Needs instrument.py's events and `perf script` output of the
same run in one directory (see README.md next to this file):

    python3 bench/trace/sched-split.py DIR      # reads DIR/t-*, DIR/c-*, DIR/perf.txt

Only the lone changes of trace_files.lone_changes are followed (their next
event at each stage is their own), and the hop's messages of the same
window; a frame counts when it is over 300 bytes (heartbeats are smaller)."""
import bisect, collections, re, sys
from trace_files import after, load_clients, load_events, lone_changes, of_changes, roles, show, times, trace_dir

out = trace_dir(sys.argv)
LINE = re.compile(r'^\s*(.*?)\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
BIG = 300
# A wait for a core this long is put down to whoever had the core.
LONG_WAIT = 50_000

wakings, wakeups, switched_in, switched_out, sends, receives = {}, {}, {}, {}, {}, {}
taken_from = {}  # (tid, ns switched in) → (thread that left the core, its state: R preempted, S/D asleep)
left_runnable = {}  # (tid, ns switched out) → whether it left the core still runnable (preempted)
process_of = {}
for line in open(f'{out}/perf.txt'):
    match = LINE.match(line)
    if not match:
        continue
    _, pid, tid, seconds, event, rest = match.groups()
    pid, tid, ns = int(pid), int(tid), round(float(seconds) * 1e9)
    process_of[tid] = pid
    if event in ('sched:sched_waking', 'sched:sched_wakeup'):
        (wakings if event == 'sched:sched_waking' else wakeups).setdefault(int(re.search(r' pid=(\d+)', rest).group(1)), []).append(ns)
    elif event == 'sched:sched_switch':
        gone, state, came = re.search(r'prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)', rest).groups()
        switched_out.setdefault(int(gone), []).append(ns)
        switched_in.setdefault(int(came), []).append(ns)
        taken_from[(int(came), ns)] = (int(gone), state)
        left_runnable[(int(gone), ns)] = state.startswith('R')
    elif event == 'syscalls:sys_enter_sendto' and int(re.search(r'len: (0x[0-9a-f]+)', rest).group(1), 16) > BIG:
        sends.setdefault(tid, []).append(ns)
    elif event == 'syscalls:sys_exit_recvfrom' and BIG < int(rest.strip(), 16) < 1 << 40:
        receives.setdefault(tid, []).append(ns)
# sched_waking fires when the wake-up is asked for; sched_wakeup can come
# later, on the target core: the waits are counted from the first when the
# run recorded it.
woken_at = wakings or wakeups
for table in (woken_at, switched_in, switched_out, sends, receives):
    for seq in table.values():
        seq.sort()

def io_thread(pid, table):
    """The thread of `pid` (not its main thread) with the most big frames in `table`."""
    threads = [tid for tid in table if process_of.get(tid) == pid and tid != pid]
    return max(threads, key=lambda tid: len(table[tid]), default=None)

def last_before(seq, at):
    i = bisect.bisect_right(seq, at)
    return seq[i - 1] if i else None

def state_at(tid, at):
    """'running', 'preempted' (off a core but runnable) or 'asleep', from the thread's last switch before `at`."""
    came, gone = last_before(switched_in.get(tid, []), at), last_before(switched_out.get(tid, []), at)
    if came is not None and (gone is None or came > gone):
        return 'running'
    return 'preempted' if gone is not None and left_runnable.get((tid, gone)) else 'asleep'

def whom(tid, sender, on_core):
    gone, state = taken_from.get((tid, on_core), (None, ''))
    who = 'an idle core' if gone == 0 else 'its own main thread' if gone == sender else 'another thread of its process' if process_of.get(gone) == sender else 'another process'
    return who if gone == 0 else f"{who} ({'preempted' if state.startswith('R') else 'went to sleep'})"

def crossing(label, sender, receiver, starts, js_received):
    """Each step from `starts` (a change's encoding begun, the bare hop's send called) to the JavaScript receive loop."""
    send_io, receive_io = io_thread(sender, sends), io_thread(receiver, receives)
    if send_io is None or receive_io is None:
        print(f'{label}: no I/O thread with big frames found')
        return
    steps, waits = {}, collections.Counter()
    add = lambda name, value: steps.setdefault(name, []).append(value)
    for start in starts:
        sent = after(sends[send_io], start)
        if sent is None:
            continue
        add('start → sendto (whole)', sent - start)
        woken = after(woken_at.get(send_io, []), start, 2_000_000)
        long_wait = None  # unknown until the wake-up and the switch-in are found
        if woken is not None and woken <= sent:
            on_core = after(switched_in.get(send_io, []), woken)
            add('start → sender I/O thread woken', woken - start)
            if on_core is not None and on_core <= sent:
                add('sender I/O thread woken → on a core', on_core - woken)
                add('sender I/O thread on a core → sendto', sent - on_core)
                long_wait = on_core - woken > LONG_WAIT
                if long_wait:
                    waits[whom(send_io, sender, on_core)] += 1
        got = after(receives[receive_io], sent)
        reached = after(js_received, got) if got is not None else None
        if got is None or reached is None:
            continue
        add('sendto → receiver I/O thread recvfrom (whole)', got - sent)
        woken = after(woken_at.get(receive_io, []), sent, 2_000_000)
        if woken is not None and woken <= got:
            add('sendto → receiver I/O thread woken', woken - sent)
        # The receiver's main thread: on a core already, waiting for one
        # (preempted), or asleep until libzmq's signal wakes it; events past
        # the receive loop's are another frame's.
        state = state_at(receiver, got)
        steps.setdefault(f'receiver main thread {state} at recvfrom', []).append(0)
        on_core = got if state == 'running' else None
        if state == 'asleep':
            woken = after(woken_at.get(receiver, []), got)
            on_core = after(switched_in.get(receiver, []), woken) if woken is not None else None
            if woken is not None and woken <= reached:
                add('recvfrom → receiver main thread woken', woken - got)
                if on_core is not None and on_core <= reached:
                    add('receiver main thread woken → on a core', on_core - woken)
        elif state == 'preempted':
            on_core = after(switched_in.get(receiver, []), got)
            if on_core is not None and on_core <= reached:
                add('recvfrom → preempted receiver main thread on a core', on_core - got)
        if on_core is not None and on_core <= reached:
            add('receiver main thread on a core → JS receive loop', reached - on_core)
        add('recvfrom → JS receive loop (whole)', reached - got)
        add('start → JS receive loop (whole)', reached - start)
        if long_wait is not None:
            add(f"start → JS receive loop, sender I/O thread on a core {'after' if long_wait else 'within'} {LONG_WAIT // 1000} µs", reached - start)
    for name, values in steps.items():
        if name.startswith('receiver main thread ') and name.endswith(' at recvfrom'):
            print(f'{label}: {name}: {len(values)} times')
        else:
            show(f'{label}: {name}', values, 72)
    if waits:
        print(f'{label}: the sender I/O thread waited over {LONG_WAIT // 1000} µs for a core {sum(waits.values())} times; it took the core from '
              + ', '.join(f'{who} {n} times' for who, n in waits.most_common()))

events = load_events(out)
publisher, subscriber, _ = roles(events)
received = of_changes(events[subscriber], 'received', 2)
encodes = times(events[publisher], 'encode')
lone = lone_changes(events, load_clients(out))
if not lone:
    sys.exit('no lone change to follow (a latency case run with instrument.py\'s trace points?)')
starts = [start for _, captured in lone if (start := after(encodes, captured)) is not None]
crossing(f'cluster {publisher}→{subscriber}', publisher, subscriber, starts, received)

# The bare hop measured beside the same messages (its processes trace
# hop-send and hop-received): each sender paired with the receiver whose
# loop had frames right after its sends most often.
first, last = min(ns for _, ns in lone), max(ns for _, ns in lone)
hop_received = {pid: times(seq, 'hop-received') for pid, seq in events.items() if any(stage == 'hop-received' for stage, _, _ in seq)}
for pid, seq in events.items():
    window = [ns for ns in times(seq, 'hop-send') if first <= ns <= last]
    if len(window) < 100 or not hop_received:
        continue
    reader = max(hop_received, key=lambda other: sum(1 for ns in window if after(hop_received[other], ns, 1_000_000) is not None))
    crossing(f'bare hop {pid}→{reader} beside', pid, reader, window, hop_received[reader])
