#!/usr/bin/env python3
"""Reads a Stampede HdrHistogram log with HdrHistogram's own Java tool and
compares it with the JSON summary of the same run.

Usage: check_hlog_java.py RUN.hlog RUN.json [HDRHISTOGRAM.jar]

For every series the log must hold (see check_hlog.py), runs Java's
`org.HdrHistogram.HistogramLogProcessor -i RUN.hlog -tag TAG
-outputValueUnitRatio 1000` (Stampede records microseconds; ratio 1000 prints
milliseconds), takes the last line's whole-run figures (TotalPercentiles: count,
50%, 99%, Max) and compares them with the JSON: the count exactly, the
latencies within HDR precision (0.1 % of the value, plus one bucket, 0.1 %, plus
the tool's 3-decimal rounding).

The jar defaults to Debian's libhdrhistogram-java (/usr/share/java/hdrhistogram.jar).
Exits 0 when everything agrees, 1 on a disagreement, 2 when Java, the jar or a
file is missing.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_hlog import expected_series, verdict  # noqa: E402

PROCESSOR = "org.HdrHistogram.HistogramLogProcessor"
# "T:1800000 (   0.054   0.154   0.636   3.407   9.663  23.983 )": count, then
# 50 %, 90 %, 99 %, 99.9 %, 99.99 % and Max.
TOTALS = re.compile(r"T:(\d+) \(\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\)")


def totals(jar, hlog, tag):
    with tempfile.TemporaryDirectory() as d:
        # With -o, the per-interval lines (ending in the run's totals) go to
        # that file and the percentile distribution to FILE.hgrm.
        out_path = os.path.join(d, "out")
        subprocess.run(
            ["java", "-cp", jar, PROCESSOR, "-i", hlog, "-tag", tag, "-outputValueUnitRatio", "1000", "-o", out_path],
            capture_output=True, text=True, timeout=600, check=True,
        )
        with open(out_path, encoding="utf-8") as f:
            out = f.read()
    last = None
    for line in out.splitlines():
        m = TOTALS.search(line)
        if m:
            last = m
    if last is None:
        return None
    g = last.groups()
    return {"count": int(g[0]), "p50": float(g[1]), "p99": float(g[3]), "max": float(g[6])}


def agrees(a_ms, b_ms):
    return abs(a_ms - b_ms) <= 0.002 * max(a_ms, b_ms) + 0.002


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    hlog, json_path = argv[1], argv[2]
    jar = argv[3] if len(argv) == 4 else "/usr/share/java/hdrhistogram.jar"
    if shutil.which("java") is None or not os.path.isfile(jar):
        sys.stderr.write(f"check_hlog_java.py needs java and {jar} (Debian: default-jre-headless libhdrhistogram-java)\n")
        return 2
    try:
        with open(json_path, encoding="utf-8") as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    failures = []
    print(f"{'series':<22} {'count(java)':>12} {'count(json)':>12} {'p50 java':>9} {'p50 json':>9} "
          f"{'p99 java':>9} {'p99 json':>9} {'max java':>9} {'max json':>9}")
    for label, tag, js in expected_series(summary):
        try:
            t = totals(jar, hlog, tag)
        except (subprocess.SubprocessError, OSError) as e:
            failures.append(f"{label}: HistogramLogProcessor failed: {e}")
            continue
        if t is None:
            failures.append(f"{label}: HistogramLogProcessor printed no totals for tag {tag}")
            continue
        ok = t["count"] == js["count"]
        ok &= all(agrees(t[k], js[k]) for k in ("p50", "p99", "max"))
        if not ok:
            failures.append(f"{label}: java {t} vs json count={js['count']} p50={js['p50']} p99={js['p99']} max={js['max']}")
        print(f"{label:<22} {t['count']:>12} {js['count']:>12} {t['p50']:>9.3f} {js['p50']:>9.3f} "
              f"{t['p99']:>9.3f} {js['p99']:>9.3f} {t['max']:>9.3f} {js['max']:>9.3f}  {'ok' if ok else 'DIFFERS'}")
    return verdict(failures, "\nJava HistogramLogProcessor reads the log and agrees with the JSON summary (ms)")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
