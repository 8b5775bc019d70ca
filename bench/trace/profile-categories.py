# Busy samples of each CPU profile in DIR within one phase of
# subscription-profile.mjs, by category (Node internals, garbage collection,
# each npm module, the plugin's files), then the plugin's and ioredis's
# busiest functions. Usage: python3 bench/trace/profile-categories.py DIR sub|unsub
import json, sys, glob, os, collections
d = sys.argv[1]; phase = sys.argv[2] if len(sys.argv) > 2 else 'sub'
w = json.load(open(os.path.join(d, 'window.json')))
lo, hi = (w['t0'], w['t1']) if phase == 'sub' else (w['t1'], w['t2'])
def cat(fr):
    u = fr.get('url', ''); f = fr.get('functionName', '')
    if f in ('(garbage collector)',): return 'gc'
    if f in ('(idle)',): return 'idle'
    if f in ('(program)',): return 'program'
    if '/dist/src/' in u: return 'plugin:' + u.split('/dist/src/')[1]
    if 'node_modules/' in u:
        m = u.split('node_modules/')[-1].split('/')
        return 'mod:' + (m[0] + '/' + m[1] if m[0].startswith('@') else m[0])
    if u.startswith('node:') or u == '': return 'node:' + (u or f)
    return 'other:' + u
for p in sorted(glob.glob(os.path.join(d, '*.cpuprofile'))):
    prof = json.load(open(p))
    nodes = {n['id']: n for n in prof['nodes']}
    t = prof['startTime']; self_by = collections.Counter(); fn_by = collections.Counter(); total = 0
    for s, dt in zip(prof['samples'], prof['timeDeltas']):
        t += dt
        if lo <= t <= hi:
            n = nodes[s]; c = cat(n['callFrame']); self_by[c] += dt; total += dt
            if c.startswith('plugin:') or c.startswith('mod:ioredis'):
                fn_by[(c, n['callFrame']['functionName'])] += dt
    busy = total - self_by['idle']
    if busy <= 0: continue
    print(f"== {os.path.basename(p)} busy {busy/1e6:.2f}s")
    groups = collections.Counter()
    for c, v in self_by.items():
        if c == 'idle': continue
        groups[c.split(':')[0] + (':' + c.split(':')[1].split('/')[0] if c.startswith('mod:') else '')] += v
    for c, v in groups.most_common(14): print(f"  {c:40s} {100*v/busy:5.1f}%")
    print('  -- plugin files')
    pf = collections.Counter({c: v for c, v in self_by.items() if c.startswith('plugin:')})
    for c, v in pf.most_common(12): print(f"  {c:50s} {100*v/busy:5.1f}%")
    print('  -- plugin/ioredis functions')
    for (c, f), v in fn_by.most_common(15): print(f"  {c[:40]:40s} {f[:30]:30s} {100*v/busy:5.1f}%")
