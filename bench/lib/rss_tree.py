#!/usr/bin/env python3
"""Peak resident memory of a process tree.

    rss_tree.py PID [--interval 0.2] [--exclude-root]

Every `interval` seconds, sums VmRSS over PID and all its descendants (found
through /proc/*/stat parent ids) and keeps the highest sum. Exits when PID is
gone and prints `PEAK_KIB MAX_PROCS` (the largest number of processes seen in
the tree). `--exclude-root` leaves PID itself out of the sum (for a
`/usr/bin/time` wrapper).
"""

import os
import sys
import time


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    root = int(sys.argv[1])
    interval = 0.2
    if "--interval" in sys.argv:
        interval = float(sys.argv[sys.argv.index("--interval") + 1])
    exclude_root = "--exclude-root" in sys.argv
    peak = 0
    peak_procs = 0
    while os.path.exists(f"/proc/{root}"):
        kids = children_map()
        tree, todo = [], [root]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(kids.get(pid, ()))
        if exclude_root:
            tree.remove(root)
        total = sum(rss_kib(p) for p in tree)
        peak = max(peak, total)
        peak_procs = max(peak_procs, len(tree))
        time.sleep(interval)
    print(peak, peak_procs)


if __name__ == "__main__":
    main()
