#!/usr/bin/env python3
"""Reads the events instrument.py's trace points wrote and prints, per
stage of a change's path, the median and 90th percentile in microseconds.
All processes read the same monotonic clock, so stages on two nodes compare."""
import sys
from trace_files import after, load_clients, load_events, lone_changes, marked, of_changes, rates, roles, show, times, trace_dir

out = trace_dir(sys.argv)
events = load_events(out)
clients = load_clients(out)
publisher_pid, subscriber_pid, other_pids = roles(events)
publisher, subscriber = events[publisher_pid], events[subscriber_pid]
names = {publisher_pid: "publisher's node", subscriber_pid: "subscriber's node", **{pid: 'node without subscriber' for pid in other_pids}}

def pairs(seq, first, second, then=None):
    """Time from `first` to `second` when they follow each other (and `then` follows)."""
    found = []
    for i in range(len(seq) - 1):
        if seq[i][0] == first and seq[i + 1][0] == second and (then is None or (i + 2 < len(seq) and seq[i + 2][0] == then)):
            found.append(seq[i + 1][1] - seq[i][1])
    return found

# Every change, each stage matched to the next event of the following one
# (another change's when two are in flight: see the lone changes below).
show("publisher's node: change captured → encoding starts", pairs(publisher, 'capture', 'encode'))
show("publisher's node: encoding starts → libzmq took the frame", pairs(publisher, 'encode', 'sent'))
encoded = [publisher[i + 1][1] for i in range(len(publisher) - 1) if publisher[i][0] == 'capture' and publisher[i + 1][0] == 'encode']
for pid in [subscriber_pid] + other_pids:
    received, dispatched = of_changes(events[pid], 'received', 2), times(events[pid], 'dispatch')
    show(f'{names[pid]}: encoding starts → frame in the receive loop', [got - start for start in encoded if (got := after(received, start)) is not None])
    show(f'{names[pid]}: encoding starts → Kuzzle dispatch called', [got - start for start in encoded if (got := after(dispatched, start)) is not None])
for pid in [subscriber_pid] + other_pids:
    seq = events[pid]
    show(f'{names[pid]}: decoding a change', pairs(seq, 'received', 'decoded', 'relay'))
    show(f'{names[pid]}: decoding any message (heartbeats too)', pairs(seq, 'received', 'decoded'))
    show(f'{names[pid]}: change applied → Kuzzle dispatch called', pairs(seq, 'apply', 'dispatch'))

# The bench's lone changes (lone_changes: 200/s, no other within 2 ms),
# followed stage by stage up to their own dispatch, found by their `t`.
captures, dispatches = marked(events, 'capture'), marked(events, 'dispatch')
seqs = [('encode', times(publisher, 'encode')), ('sent', times(publisher, 'sent')), ('received', of_changes(subscriber, 'received', 2)),
        ('decoded', of_changes(subscriber, 'decoded', 1)), ('relay', times(subscriber, 'relay')), ('apply', times(subscriber, 'apply'))]
chain = {}
for t, captured in lone_changes(events, clients):
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
# Kuzzle.
rate = rates(clients)
groups = {}
for t, sent, received in sorted(clients, key=lambda c: c[1]):
    captured, dispatched = captures.get(t), dispatches.get(t)
    row = groups.setdefault((rate[t], 'one Kuzzle' if captured is None else 'cluster'), {})
    row.setdefault('sent → received', []).append(received - sent)
    if captured is not None and dispatched is not None:
        row.setdefault('sent → captured (as on one node)', []).append(captured - sent)
        row.setdefault('captured → dispatch called (the cluster)', []).append(dispatched - captured)
        row.setdefault('dispatch called → received (as on one node)', []).append(received - dispatched)
for (case_rate, side), row in sorted(groups.items()):
    for stage, values in row.items():
        show(f'{side}, {case_rate}: {stage}', values, 62)
