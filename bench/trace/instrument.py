#!/usr/bin/env python3
"""Adds timestamps to the compiled plugin (dist/src) along the path of a
change from the node where it happens to a node that notifies it, for one
bench run; `npm run build` removes them. Each Kuzzle process writes its
events ("<stage> <monotonic ns>", one per line) to
$KPC_TRACE_DIR/t-<pid> when it exits. See README.md next to this file."""
import os, sys

root = sys.argv[1] if len(sys.argv) > 1 else 'dist/src'
out = os.environ.get('KPC_TRACE_DIR', '/tmp/kpc-trace')
hook = ('(globalThis.__kpcTrace ??= (() => { const a = []; process.on("exit", () => '
        'require("fs").writeFileSync(%r + "/t-" + process.pid, a.join("\\n")));'
        ' return a; })()).push(%%r + " " + process.hrtime.bigint());' % out)

# (file, anchor, stage, after the anchor?)
POINTS = [
    ('plugin/change-capture.js', 'const notify = (change, request, body) => {', 'capture', True),
    # A broadcast (every peer listens) or a copy to the listening peers only.
    ('transport/zmq-transport.js', 'const frame = this.writer.encode({ type, seq: this.seq + 1, body });', 'encode', False),
    ('transport/zmq-transport.js', 'const frame = this.writer.encode({ type, seq: 0, body });', 'encode', False),
    ('transport/send-queue.js', 'await this.socket.send(frames);', 'sent', True),
    ('transport/zmq-transport.js', 'const envelope = this.reader.read(frames, addressed ? 2 : 1, addressed ? 1 : 0, name);', 'received', False),
    ('transport/zmq-transport.js', 'const envelope = this.reader.read(frames, addressed ? 2 : 1, addressed ? 1 : 0, name);', 'decoded', True),
    ('sync/change-relay.js', 'const applying = this.host.applyChange(change);', 'apply', False),
    ('plugin/local-notifier.js', "await this.kuzzle.ask('core:realtime:document:dispatch'", 'dispatch', False),
]
for name, anchor, stage, after in POINTS:
    path = os.path.join(root, name)
    text = open(path).read()
    if anchor not in text:
        sys.exit(f'{path}: "{anchor}" not found (the code changed: update POINTS)')
    line = hook % stage
    text = text.replace(anchor, f'{anchor}\n{line}' if after else f'{line}\n{anchor}', 1)
    open(path, 'w').write(text)
os.makedirs(out, exist_ok=True)
print(f'{len(POINTS)} trace points added under {root}; events go to {out}')
