#!/usr/bin/env python3
"""Peak resident memory of each process of a tree, and of the tree.

    rss_peaks.py PID [--interval 0.5]

Every `interval` seconds reads VmRSS of PID and all its descendants; keeps
each process's peak (by pid, with its command line) and the peak of the sum.
When PID is gone prints one line per process (peak MiB, pid, command) and
the tree's peak."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rss_tree import children_map, rss_kib  # noqa: E402


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        return " ".join(p.decode(errors="replace") for p in parts if p)[:110]
    except OSError:
        return "?"


root = int(sys.argv[1])
interval = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--interval" else 0.5
peaks, names, total_peak = {}, {}, 0
while os.path.exists(f"/proc/{root}"):
    total = 0
    for p in tree(root):
        r = rss_kib(p)
        total += r
        if r > peaks.get(p, 0):
            peaks[p] = r
            names.setdefault(p, cmdline(p))
    total_peak = max(total_peak, total)
    time.sleep(interval)
for p, r in sorted(peaks.items(), key=lambda x: -x[1]):
    print(f"{r / 1024:8.1f} MiB  {p:>7}  {names.get(p, '?')}")
print(f"{total_peak / 1024:8.1f} MiB  tree peak (sum at one moment)")
