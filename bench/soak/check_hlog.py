#!/usr/bin/env python3
"""Cross-check an HdrHistogram interval log against a JSON summary of the same run.

Usage: check_hlog.py RUN.hlog RUN.json

Reads RUN.hlog (written by `stampede run --out hlog=RUN.hlog`) with the PyPI
`hdrhistogram` package's HistogramLogReader -- an independent implementation of
the format -- merges every interval per tag, and compares, per request name and
for the overall series, the count (exactly) and p50, p99 and max with the JSON
summary (`--out summary=RUN.json`: `requests[].duration`, `metrics.*`, in ms).

Units: hlog histogram values are microseconds (Stampede's unit); the JSON is in
milliseconds. Interval_Max in the log is in milliseconds too (ratio 1000), but
this script reads the decoded histograms, not that column.

Tolerance: HDR precision -- 3 significant digits, i.e. relative 0.1 %, plus the
width of the bucket that holds the value (two implementations may pick either
end of the same bucket), plus 1 us. Percentile ranks: the summary (Rust
hdrhistogram) takes the sample of rank ceil(q*n), this package round(q*n); the
table shows the ceil one and either is accepted (in a sparse tail the two can
be ranks apart by one sample and milliseconds apart in value).

Prints a table; exits 0 when everything agrees, 1 on any disagreement, 2 when a
file cannot be read. Needs: pip install hdrhistogram
"""

import json
import math
import sys
import urllib.parse

try:
    from hdrh.histogram import HdrHistogram
    from hdrh.log import HistogramLogReader
except ImportError:  # pragma: no cover - environment problem
    sys.stderr.write("check_hlog.py needs the `hdrhistogram` package: pip install hdrhistogram\n")
    sys.exit(2)

REQUEST_PREFIX = "http_req_duration."
# Large enough for any latency (one day in microseconds), 3 significant digits.
HIGHEST_US = 24 * 3600 * 1_000_000
REL = 0.001


def read_header(path):
    """The log's comment lines before the first interval, for format checks."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("Tag=") or line[:1].isdigit():
                break
            lines.append(line.rstrip("\n"))
    problems = []
    if not lines or lines[0] != "#[Histogram log format version 1.3]":
        problems.append("first line is not '#[Histogram log format version 1.3]'")
    if not any(l.startswith("#[StartTime: ") for l in lines):
        problems.append("no #[StartTime: ...] line")
    if not any(l.startswith("#[BaseTime: ") for l in lines):
        problems.append("no #[BaseTime: ...] line")
    legend = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
    if legend not in lines:
        problems.append("no legend line")
    return problems


def merged_by_tag(path):
    reader = HistogramLogReader(path, HdrHistogram(1, HIGHEST_US, 3))
    merged, intervals = {}, {}
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        tag = h.get_tag() or ""
        acc = merged.get(tag)
        if acc is None:
            acc = merged[tag] = HdrHistogram(1, HIGHEST_US, 3)
        if h.get_total_count() > 0:
            acc.add(h)
        intervals[tag] = intervals.get(tag, 0) + 1
    reader.close()
    return merged, intervals


def value_at_rank(h, rank):
    """The value of the rank-th smallest sample (1-based), bucket's highest equivalent."""
    n = h.get_total_count()
    # get_value_at_percentile selects rank int(p * n / 100 + 0.5): aim at `rank` exactly.
    return float(h.get_value_at_percentile(100.0 * rank / n))


def quantile_values(h, q):
    """The value at quantile q under both rank conventions in use: ceil(q * n)
    (Rust hdrhistogram, which the JSON summary uses; current Java) and
    round(q * n) (this Python package, older Java). They select different
    samples when q * n falls between two ranks that straddle a gap."""
    n = h.get_total_count()
    ceil_rank = max(1, math.ceil(q * n))
    round_rank = max(1, int(q * n + 0.5))
    return value_at_rank(h, ceil_rank), value_at_rank(h, round_rank)


def stats_us(h):
    if h.get_total_count() == 0:
        return {"count": 0, "p50": (0.0, 0.0), "p99": (0.0, 0.0), "max": (0.0, 0.0)}
    m = float(h.get_max_value())
    return {
        "count": h.get_total_count(),
        "p50": quantile_values(h, 0.5),
        "p99": quantile_values(h, 0.99),
        "max": (m, m),
    }


def agrees(h, hlog_us, json_ms):
    json_us = json_ms * 1000.0
    v = max(int(hlog_us), int(json_us), 1)
    bucket = h.get_highest_equivalent_value(v) - h.get_lowest_equivalent_value(v) + 1
    tol = max(REL * max(hlog_us, json_us), 0) + bucket + 1
    return abs(hlog_us - json_us) <= tol


def expected_series(summary):
    """(label, hlog tag, JSON stats in ms) for every series the log must hold."""
    expected = []
    for r in summary.get("requests", []):
        tag = REQUEST_PREFIX + urllib.parse.quote(r["name"], safe="_-.:/~()[]")
        # Every request has exactly one duration sample: both counts must match the log.
        expected.append((r["name"], tag, dict(r["duration"], count=r["count"])))
    for metric in ("http_req_duration", "iteration_duration", "intended_latency"):
        m = summary.get("metrics", {}).get(metric)
        if m and m.get("type") == "trend":
            expected.append((f"[{metric}]", metric, m))
    return expected


def verdict(failures, agreed):
    """Prints the disagreements (exit code 1) or that everything agreed (0)."""
    if failures:
        print("\nDISAGREEMENT:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print(agreed)
    return 0


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    hlog_path, json_path = argv[1], argv[2]
    try:
        with open(json_path, encoding="utf-8") as f:
            summary = json.load(f)
        header_problems = read_header(hlog_path)
        merged, intervals = merged_by_tag(hlog_path)
    except (OSError, ValueError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if not str(summary.get("schema", "")).startswith("stampede.summary/"):
        sys.stderr.write(f"error: {json_path} is not a Stampede JSON summary (no stampede.summary/ schema)\n")
        return 2

    expected = expected_series(summary)
    failures = list(header_problems)
    rows = []
    for label, tag, js in expected:
        h = merged.get(tag)
        if h is None:
            failures.append(f"{label}: no `Tag={tag}` series in the log")
            rows.append((label, "-", js["count"], "-", "-", "-", "-", "-", "-", "MISSING"))
            continue
        hs = stats_us(h)
        ok = hs["count"] == js["count"]
        if not ok:
            failures.append(f"{label}: count {hs['count']} in the log, {js['count']} in the JSON")
        for k in ("p50", "p99", "max"):
            if hs["count"] and not any(agrees(h, v, js[k]) for v in hs[k]):
                ok = False
                failures.append(f"{label}: {k} {hs[k][0] / 1000:.3f} ms in the log, {js[k]:.3f} ms in the JSON")
        rows.append((
            label, hs["count"], js["count"],
            f"{hs['p50'][0] / 1000:.3f}", f"{js['p50']:.3f}",
            f"{hs['p99'][0] / 1000:.3f}", f"{js['p99']:.3f}",
            f"{hs['max'][0] / 1000:.3f}", f"{js['max']:.3f}",
            "ok" if ok else "DIFFERS",
        ))
    known = {tag for _, tag, _ in expected}
    for tag in sorted(set(merged) - known):
        if tag.startswith(REQUEST_PREFIX):
            failures.append(f"`Tag={tag}` has no request of that name in the JSON")

    head = ("series", "count(hlog)", "count(json)", "p50 hlog", "p50 json", "p99 hlog", "p99 json", "max hlog", "max json", "")
    table = [head] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for i, r in enumerate(table):
        print("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    n_intervals = max(intervals.values()) if intervals else 0
    print(f"\n{len(merged)} series, {n_intervals} intervals; latencies in ms; tolerance 0.1 % + one HDR bucket")
    return verdict(failures, "hlog and JSON summary agree")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
