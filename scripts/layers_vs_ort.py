#!/usr/bin/env python3
"""Per-block comparison of MobileNetV2 / EfficientNet-B0: `zenrt profile` (minimum per node over RUNS runs of ITERS
iterations) against an ORT profile from scripts/ort_profile.py, summed per block and role (expand 1x1, depthwise,
squeeze-excitation, projection 1x1, residual Add, stem/head); prints a markdown table. SPLIT=1 keeps expand and
depthwise apart (run zenrt with --disable-pass fuse_expand_depthwise); ORT_JSON = vs:OTHER_ZENRT compares two zenrt
binaries instead (extra args for the first, then --b and those for the second).

    python3 scripts/layers_vs_ort.py ZENRT_BIN MODEL.onnx INPUTS.npz THREADS RUNS ITERS ORT_JSON [zenrt args]
"""
import re, sys, json, subprocess, collections
zbin, model, npz, threads, runs, iters, ortj = sys.argv[1:8]
extra = sys.argv[8:]
mname = 'eff' if 'efficientnet' in model else 'mb'

def block_of(name):
    m = re.search(r'features\.(\d+)(?:/features\.\d+\.(\d+))?', name)
    if m:
        return f"{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else "")
    m = re.search(r'features\.(\d+\.\d+)/', name)
    if m:
        return m.group(1)
    return None

def role(name, op):
    if 'Reorder' in op or 'Reorder' in name:
        return 'reorder'
    if any(s in name for s in ['avgpool', 'fc1', 'fc2', 'scale_activation']) or re.search(r'block\.\d/Mul$', name):
        return 'SE'
    if op == 'Add' or name.endswith('/Add'):
        return 'add'
    if op in ('Gemm', 'GlobalAveragePool', 'Flatten'):
        return 'head'
    ks = re.findall(r'(?:conv|block)\.(\d)(?:/|$)', name)
    if not ks:
        return 'stem/head'
    k = int(ks[-1])
    return k

def roles(rows):
    """rows: list of (name, op, ms) in execution order -> {(block, role): ms}"""
    out = collections.defaultdict(float)
    blk = None
    for name, op, ms in rows:
        b = block_of(name)
        if b is not None:
            blk = b.split('.')[0] if mname == 'mb' else b
        r = role(name, op)
        if r == 'reorder':
            out[('reorder', 'reorder')] += ms; continue
        if r == 'head':
            out[('head', 'head')] += ms; continue
        bb = blk or '?'
        if isinstance(r, int):
            first = bb in ('1', '1.0')
            if bb.split('.')[0] in (('0', '18') if mname == 'mb' else ('0', '8')):
                r = 'stem/head'
            elif mname == 'mb':
                r = {0: 'dw', 1: 'proj'}[r] if first else {0: 'exp', 1: 'dw', 2: 'proj'}[r]
            else:
                r = {0: 'dw', 1: 'SE', 2: 'proj'}[r] if first else {0: 'exp', 1: 'dw', 2: 'SE', 3: 'proj'}[r]
        if r in ('exp', 'dw') and not __import__('os').environ.get('SPLIT'):
            r = 'exp+dw'
        if r == 'stem/head':
            bb = 'stem' if bb.split('.')[0] == '0' else 'headconv'
        out[(bb, r)] += ms
    return out

def zprof(zbin, extra):
    best = {}
    order = {}
    for _ in range(int(runs)):
        p = subprocess.run([zbin, 'profile', model, '--inputs', npz, '--threads', threads, '--iters', iters, '--top', '1000'] + extra,
                           capture_output=True, text=True)
        lines = p.stdout.splitlines()
        i = next(i for i, l in enumerate(lines) if l.startswith(' step'))
        for l in lines[i + 1:]:
            m = re.match(r'\s*(\d+)\s+(\S+)\s+(\S+)\s+([\d.]+)\s+', l)
            if not m:
                continue
            st, nm, op, ms = int(m.group(1)), m.group(2), m.group(3), float(m.group(4))
            best[st] = min(best.get(st, 1e9), ms)
            order[st] = (nm, op)
    return roles([(order[s][0], order[s][1], best[s]) for s in sorted(order)]), sum(best.values())

if ortj.startswith('vs:'):
    # compare zenrt configs: ORT_JSON = 'vs:BIN2' ; extra args for A before '--b', for B after
    zb2 = ortj[3:]
    k = extra.index('--b') if '--b' in extra else len(extra)
    ea, eb = extra[:k], extra[k + 1:]
    za, zb = {}, {}
    sa = sb = 0
    z, sa = zprof(zbin, ea)
    o, sb = zprof(zb2, eb)
    o_nodes = {'B': ('', sb)}
else:
    z, sa = zprof(zbin, extra)
    o_nodes = json.load(open(ortj))['nodes']
    o = roles([(n, op, ms) for n, (op, ms) in o_nodes.items()])
best = {'A': sa}

keys = sorted(set(z) | set(o), key=lambda k: (k[0] not in ('stem',), [int(x) if x.isdigit() else 999 for x in re.split(r'\.', k[0])] if k[0][0].isdigit() else [1000], str(k[1])))
rolesl = ['exp+dw', 'exp', 'dw', 'SE', 'proj', 'add', 'stem/head', 'head', 'reorder']
blocks = []
for k in keys:
    if k[0] not in blocks:
        blocks.append(k[0])
print(f"zenrt sum {sum(best.values()):.2f} ms, ORT sum {sum(v[1] for v in o_nodes.values()):.2f} ms")
hdr = [r for r in rolesl if any(k[1] == r for k in keys)]
print('| block | ' + ' | '.join(f'{r} z / ORT' for r in hdr) + ' |')
print('|---|' + '---|' * len(hdr))
tot = collections.defaultdict(lambda: [0.0, 0.0])
for b in blocks:
    cells = []
    for r in hdr:
        a, c = z.get((b, r)), o.get((b, r))
        if a is None and c is None:
            cells.append('')
        else:
            tot[r][0] += a or 0; tot[r][1] += c or 0
            cells.append(f"{a or 0:.3f} / {c or 0:.3f}")
    print(f'| {b} | ' + ' | '.join(cells) + ' |')
print('| **total** | ' + ' | '.join(f"**{tot[r][0]:.2f} / {tot[r][1]:.2f}**" for r in hdr) + ' |')
