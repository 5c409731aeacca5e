#!/usr/bin/env python3
"""bench/fifty-k.sh's report: RAW_DIR (summary.json, run.csv, rss.txt, err.txt, rc) to Markdown.

    fifty_k.py RAW_DIR SCENARIO VERSION

Held: the longest stretch of 1-s intervals whose VUs (every scenario's, at the interval's end)
are at least 50,000 minus the open-model scenarios' (their VUs come and go with the arrivals).
Planned iterations of a closed-model scenario: its VU-seconds (summed over the intervals)
divided by one iteration's ideal length, the mean think time of each request of its flow plus
1 ms per request (as bench/run.sh's part b). Over the hold, the VU-seconds are taken one ideal
iteration earlier (the iterations ending in the hold began then, some during the ramp); over the
whole run as they are.
"""

import csv
import datetime
import json
import os
import platform
import sys

raw, scenario, version = sys.argv[1:4]
summary = json.load(open(os.path.join(raw, "summary.json")))
rows = list(csv.DictReader(open(os.path.join(raw, "run.csv"))))
rc = open(os.path.join(raw, "rc")).read().strip()
err = open(os.path.join(raw, "err.txt")).read()
out = []
w = out.append

# Ideal iteration lengths of the scenario's closed-model flows (think U(2 s, 6 s) after each of a
# browse's or a search's 4 requests; a page load: home, the page, then its batch).
IDEAL = {"shoppers": 4 * 4.0 + 4 * 0.001, "page_loads": 3 * 4.0 + 3 * 0.001}
WANTED = 50_000

vus_at = {}
for r in rows:
    if r["metric"] == "vus":
        vus_at.setdefault(float(r["time_s"]), {})[r["scenario"]] = int(r["count"])
times = sorted(vus_at)
closed_vus = lambda t: sum(v for s, v in vus_at[t].items() if s in IDEAL)
best, start = (0, 0, 0), None
for t in times + [None]:
    ok = t is not None and closed_vus(t) >= WANTED
    if ok and start is None:
        start = t
    if not ok and start is not None:
        prev = times[times.index(t) - 1] if t is not None else times[-1]
        if prev - start + 1 > best[0]:
            best = (prev - start + 1, start, prev)
        start = None
held, h0, h1 = best
peak_total = max(sum(v.values()) for v in vus_at.values())
sc = {s["name"]: s for s in summary["scenarios"]}


def window(name, lo, hi, lag):
    """VU-seconds `lag` seconds earlier than [lo, hi] (an iteration ending at t began one ideal
    iteration before: during a ramp, completions follow the VUs of then), and iterations in it."""
    vus = {round(t): v.get(name, 0) for t, v in vus_at.items()}
    vs = sum(vus.get(round(t - lag), 0) for t in times if lo <= t <= hi)
    it = sum(int(r["count"]) for r in rows if r["metric"] == "iteration_duration" and r["scenario"] == name
             and lo <= float(r["time_s"]) <= hi)
    return vs, it


m = summary["metrics"]
w(f"# 50,000 shoppers on one small machine — {datetime.date.today()}")
w("")
w(f"`bench/fifty-k.sh`: `stampede run {scenario} --headless` against the bundled shop, on "
  f"{os.cpu_count()} cores, Linux {platform.release()}; {version}. Exit code **{rc}**.")
w("")
placement = next((l for l in err.splitlines() if l.startswith("placement:")), "—")
w(f"```text\n{placement}\n```")
w("")
w("## Load")
w("")
w(f"- Closed-model VUs (shoppers + page loads) at ≥ {WANTED:,} for **{held:.0f} s** (from {h0:.0f} s to "
  f"{h1:.0f} s); all scenarios' VUs at most {peak_total:,} in an interval, `vus_max` {m['vus_max']['max']:,}.")
w(f"- {m['http_reqs']['count']:,} requests ({m['http_reqs']['rate']:,.0f}/s over the run), "
  f"`http_req_failed` {m['http_req_failed']['rate'] * 100:.3f} %, checks "
  f"{m['checks']['rate'] * 100:.2f} %; p95 {m['http_req_duration']['p95']:.1f} ms, "
  f"p99 {m['http_req_duration']['p99']:.1f} ms.")
w("")
w("| scenario | model | iterations | planned over the hold | of planned | planned over the run | of planned | dropped |")
w("|---|---|---:|---:|---:|---:|---:|---:|")
for name, s in sc.items():
    if name in IDEAL:
        hv, hi = window(name, h0, h1, IDEAL[name])
        rv, ri = window(name, 0, 1e9, 0)
        hp, rp = hv / IDEAL[name], rv / IDEAL[name]
        w(f"| {name} | closed (ideal iteration {IDEAL[name]:.3f} s) | {s['iterations']:,} | {hp:,.0f} | "
          f"{hi / hp * 100:.1f} % | {rp:,.0f} | {ri / rp * 100:.1f} % | — |")
    else:
        w(f"| {name} | open | {s['iterations']:,} | — | — | — | — | {s['dropped_iterations']:,} |")
w("")
w("Over the hold, planned counts the VUs of one ideal iteration earlier (iterations ending early in "
  "the hold began during the ramp). Over the whole run the VU-seconds include VUs finishing their "
  "last iteration during the ramp-down, which start no new one: the hold is the measure of keeping up.")
w("")
w("## Thresholds")
w("")
w("| threshold | observed | |")
w("|---|---:|---|")
for t in summary["thresholds"]:
    obs = t.get("observed")
    w(f"| `{t['metric']}` `{t['threshold']}` | {obs:,.3f} | {'✅' if t['passed'] else '❌'} |" if obs is not None
      else f"| `{t['metric']}` `{t['threshold']}` | — | {'✅' if t['passed'] else '❌'} |")
w("")
w("## Peak RSS per process (`bench/lib/rss_peaks.py`, every 0.5 s)")
w("")
w("| process | peak MiB |")
w("|---|---:|")
ours, shop = 0.0, 0.0
for line in open(os.path.join(raw, "rss.txt")):
    parts = line.split(None, 3)
    if len(parts) < 4 or parts[1] != "MiB" or "tree peak" in line:
        continue
    mib, cmd = float(parts[0]), parts[3].strip()
    kind = ("shop" if " shop " in f" {cmd} " else "agent" if " agent " in f" {cmd} " else "coordinator (`stampede run`)")
    if kind == "shop":
        shop += mib
    else:
        ours += mib
    label = kind if kind != "shop" else ("shop edge" if "--edge-only" in cmd else "shop (origin + edge)")
    w(f"| {label} | {mib:.1f} |")
w("")
w(f"Stampede's processes together: **{ours:.1f} MiB ({ours * 1.048576:.0f} MB)**, the sum of each one's "
  f"peak (an upper bound of their sum at any moment). The bundled shop's: {shop:.1f} MiB.")
print("\n".join(out))
