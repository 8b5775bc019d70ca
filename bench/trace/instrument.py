#!/usr/bin/env python3
"""Adds timestamps to the compiled plugin (dist/src) along the path of a
change from the node where it happens to a node that notifies it, and to
the bench's bare hop and subscribers (dist/bench), for one bench run; `npm
run build` removes them. Each Kuzzle and hop process writes its events
("<stage> <monotonic ns> [<t>]", one per line) to $KPC_TRACE_DIR/t-<pid>
when it exits; the subscribers write theirs to c-<pid>. The inserted code
uses `??=` and `?.`: the bench's Node (20), not Node 12 or 14. See
README.md next to this file."""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else 'dist'
out = os.environ.get('KPC_TRACE_DIR', '/tmp/kpc-trace')
events = ('(globalThis.__kpcTrace ??= (() => { const a = []; process.on("exit", () => '
          'require("fs").writeFileSync(%s + "/t-" + process.pid, a.join("\\n")));'
          ' return a; })())' % json.dumps(out))
hook = events + '.push(%s + " " + process.hrtime.bigint());'

# The bench's messages carry their send time `t` (epoch ms): the change's
# capture and its dispatch record it, so the analysis matches them to the
# client's notification exactly.
SENT_AT = {'capture': 'request.input.body?.t', 'dispatch': 'this.request.input.body?.t'}

# (file, anchor, stage, after the anchor?)
POINTS = [
    ('src/plugin/change-capture.js', 'const notify = (change, request, body) => {', 'capture', True),
    # A broadcast (every peer listens) or a copy to the listening peers only.
    ('src/transport/zmq-transport.js', 'const frame = this.writer.encode({ type, seq: this.seq + 1, body });', 'encode', False),
    ('src/transport/zmq-transport.js', 'const frame = this.writer.encode({ type, seq: 0, body });', 'encode', False),
    ('src/transport/send-queue.js', 'await this.socket.send(frames);', 'sent', True),
    ('src/transport/zmq-transport.js', 'const envelope = this.reader.read(frames, addressed ? 2 : 1, addressed ? 1 : 0, name);', 'received', False),
    ('src/transport/zmq-transport.js', 'const envelope = this.reader.read(frames, addressed ? 2 : 1, addressed ? 1 : 0, name);', 'decoded', True),
    ('src/sync/change-relay.js', 'receive(change) {', 'relay', True),
    ('src/sync/change-relay.js', 'const applying = this.host.applyChange(change);', 'apply', False),
    ('src/plugin/local-notifier.js', "await this.kuzzle.ask('core:realtime:document:dispatch'", 'dispatch', False),
    # The bench's bare hop, for the same split (sched-split.py): its message leaves, its receive loop has it.
    ('bench/hop/hop-peer.js', 'await publisher.send(message((0, clock_1.now)()));', 'hop-send', False),
    ('bench/hop/hop-peer.js', 'const at = (0, clock_1.now)();', 'hop-received', True),
]
for name, anchor, stage, after in POINTS:
    path = os.path.join(root, name)
    text = open(path).read()
    if anchor not in text:
        sys.exit(f'{path}: "{anchor}" not found (the code changed: update POINTS)')
    line = hook % json.dumps(stage)
    if stage in SENT_AT:
        line = line.replace('process.hrtime.bigint())', 'process.hrtime.bigint() + " " + %s)' % SENT_AT[stage])
    text = text.replace(anchor, f'{anchor}\n{line}' if after else f'{line}\n{anchor}', 1)
    open(path, 'w').write(text)
# The bench's subscribers: each timed notification as "client <t> <sent ns> <received ns>"
# in $KPC_TRACE_DIR/c-<pid>, on the same monotonic clock, so the analysis can put the cluster's part of a
# client's latency beside the rest of it. Kept in memory and written once a second (a few kB, a
# fraction of a millisecond once a second rather than a write per notification), and at the worker's end:
# the bench stops its workers with SIGTERM, which skips "exit" handlers, so SIGTERM writes them, then
# ends the worker by the same signal.
recorder = os.path.join(root, 'bench', 'load', 'recorder.js')
anchor = 'this.latencies.push(at - sentAt);'
text = open(recorder).read()
if anchor not in text:
    sys.exit(f'{recorder}: "{anchor}" not found (the code changed: update instrument.py)')
mono = '(0, clock_1.monotonicUs)'
clients = ('(globalThis.__kpcClients ??= (() => { const fs = require("fs"); const file = %s + "/c-" + process.pid; const a = [];'
           ' const flush = () => { if (a.length > 0) fs.appendFileSync(file, a.splice(0).join("")); };'
           ' setInterval(flush, 1000).unref(); process.on("exit", flush);'
           ' process.once("SIGTERM", () => { flush(); process.kill(process.pid, "SIGTERM"); }); return a; })())' % json.dumps(out))
line = '%s.push("client " + sentAt + " " + Math.round(%s(sentAt) * 1000) + " " + Math.round(%s(at) * 1000) + "\\n")' % (clients, mono, mono)
open(recorder, 'w').write(text.replace(anchor, '{ %s %s; }' % (anchor, line), 1))
os.makedirs(out, exist_ok=True)
print(f'{len(POINTS) + 1} trace points added under {root}; events go to {out}')
