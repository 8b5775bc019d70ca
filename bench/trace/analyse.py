#!/usr/bin/env python3
"""Reads the events instrument.py's trace points wrote and prints, per
stage of a change's path, the median and 90th percentile in microseconds.
All processes read the same monotonic clock, so stages on two nodes compare."""
import bisect, sys
from trace_files import after, isolated, load_clients, load_events, marked, show, times, trace_dir

out = trace_dir(sys.argv)
events = load_events(out)
clients = load_clients(out)

def pairs(seq, first, second, then=None):
    """Time from `first` to `second` when they follow each other (and `then` follows)."""
    found = []
    for i in range(len(seq) - 1):
        if seq[i][0] == first and seq[i + 1][0] == second and (then is None or (i + 2 < len(seq) and seq[i + 2][0] == then)):
            found.append(seq[i + 1][1] - seq[i][1])
    return found

# Kuzzle nodes only (the bare hop's processes trace their own stages).
nodes = [seq for seq in events.values() if any(stage in ('capture', 'received') for stage, _, _ in seq)]
publishers = [seq for seq in nodes if any(stage == 'capture' for stage, _, _ in seq)]
receivers = [seq for seq in nodes if seq not in publishers]
for seq in publishers:
    show('publisher: change captured → encoding starts', pairs(seq, 'capture', 'encode'))
    show('publisher: encoding starts → libzmq took the frame', pairs(seq, 'encode', 'sent'))
    encoded = [seq[i + 1][1] for i in range(len(seq) - 1) if seq[i][0] == 'capture' and seq[i + 1][0] == 'encode']
    for n, other in enumerate(receivers, 1):
        received = [other[i][1] for i in range(len(other) - 3) if other[i][0] == 'received' and other[i + 2][0] == 'relay']
        dispatched = times(other, 'dispatch')
        hop = [got - start for start in encoded if (got := after(received, start)) is not None]
        notified = [got - start for start in encoded if (got := after(dispatched, start)) is not None]
        show(f'node {n}: encoding starts → frame in the receive loop', hop)
        show(f'node {n}: encoding starts → Kuzzle dispatch called', notified)
for n, seq in enumerate(receivers, 1):
    show(f'node {n}: decoding a change', pairs(seq, 'received', 'decoded', 'relay'))
    show(f'node {n}: decoding any message (heartbeats too)', pairs(seq, 'received', 'decoded'))
    show(f'node {n}: change applied → Kuzzle dispatch called', pairs(seq, 'apply', 'dispatch'))

# The bench's messages, each followed from its capture to its dispatch. The
# lines above take the next event of each stage, which is another change's
# when two are in flight (the latency case's publisher sends what is due
# every 2 ms, two at a time at 1,000/s); here only changes with no other
# within 2 ms, and their dispatch found by their own `t`.
captures, dispatches = marked(events, 'capture'), marked(events, 'dispatch')
if publishers and receivers and captures:
    lone = isolated(captures)
    publisher = publishers[0]
    subscriber = max(receivers, key=lambda seq: len(times(seq, 'dispatch')))
    # A heartbeat is received and decoded too: only those a change's relay follows.
    of_changes = lambda name, step: sorted(subscriber[i][1] for i in range(len(subscriber) - step)
                                           if subscriber[i][0] == name and subscriber[i + step][0] == 'relay')
    seqs = [('encode', times(publisher, 'encode')), ('sent', times(publisher, 'sent')), ('received', of_changes('received', 2)),
            ('decoded', of_changes('decoded', 1)), ('relay', times(subscriber, 'relay')), ('apply', times(subscriber, 'apply'))]
    chain = {}
    for t, captured in lone:
        dispatched = dispatches.get(t)
        if dispatched is None:
            continue
        at, previous = captured, 'captured'
        for name, seq in seqs:
            nxt = after(seq, at)
            if nxt is None or nxt > dispatched:
                break
            chain.setdefault(f'{previous} → {name}', []).append(nxt - at)
            at, previous = nxt, name
        else:
            chain.setdefault(f'{previous} → dispatch called', []).append(dispatched - at)
        chain.setdefault('captured → dispatch called (whole)', []).append(dispatched - captured)
    for stage, values in chain.items():
        show(f'lone change, {stage}', values)

# A client's latency, split where the cluster's part starts and ends: sent →
# captured on the publisher's node (client, load balancer, Kuzzle's request
# path: the same steps as one node's), captured → Kuzzle's dispatch called on
# the subscriber's node (the cluster's part), dispatch → received (Koncorde,
# the notification's way out: one node's steps too). Matched by the message's
# `t`; a notification whose change no plugin captured is from the run of one
# Kuzzle. Rates told apart by how many sends fall within 50 ms around each.
if clients:
    clients.sort(key=lambda c: c[1])
    sends = [sent for _, sent, _ in clients]
    groups = {}
    for t, sent, received in clients:
        near = bisect.bisect_right(sends, sent + 25_000_000) - bisect.bisect_left(sends, sent - 25_000_000)
        rate = '1,000/s' if near > 25 else '200/s'
        captured, dispatched = captures.get(t), dispatches.get(t)
        row = groups.setdefault((rate, 'one Kuzzle' if captured is None else 'cluster'), {})
        row.setdefault('sent → received', []).append(received - sent)
        if captured is not None and dispatched is not None:
            row.setdefault('sent → captured (as on one node)', []).append(captured - sent)
            row.setdefault('captured → dispatch called (the cluster)', []).append(dispatched - captured)
            row.setdefault('dispatch called → received (as on one node)', []).append(received - dispatched)
    for (rate, side), row in sorted(groups.items()):
        for stage, values in row.items():
            show(f'{side}, {rate}: {stage}', values, 62)
