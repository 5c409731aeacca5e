#!/usr/bin/env python3
"""Turns bench/run.sh's raw outputs into the Markdown table of bench/results/LATEST.md.

    report.py RAW_DIR [--a-conns 50 …]   (run.sh passes every parameter)

Reads RAW_DIR/NAME.{time,rss,json,out,rc} for each run NAME (a_wrk, b_k6, …), computes the
planned iterations of part b and the true latencies of part c from their schedules, and prints
Markdown. A run that is missing or failed shows as "—" with a note.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess

p = argparse.ArgumentParser()
p.add_argument("raw")
for flag, default in [
    ("a-conns", 50), ("a-secs", 10),
    ("b-vus", 15000), ("b-ramp", 20), ("b-hold", 20), ("b-think", 1.0),
    ("b50-vus", 50000), ("b50-ramp", 60), ("b50-hold", 60), ("b50-think", 5.0),
    ("c-rate", 2000), ("c-secs", 15), ("c-stall-at", 5.0), ("c-stall-for", 1.0),
]:
    p.add_argument("--" + flag, type=float, default=default)
p.add_argument("--c-pool", default="100..3000")
p.add_argument("--agents", default="1 4")
for tool in ("k6", "wrk", "oha", "stampede"):
    p.add_argument("--" + tool, default="")
A = p.parse_args()
RAW = A.raw
notes = []


# --- reading runs ------------------------------------------------------------------------------
def read(name, ext):
    path = os.path.join(RAW, f"{name}.{ext}")
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


class Run:
    """One measured run: CPU, wall and peak RSS, plus the tool's own figures."""

    def __init__(self, name):
        self.name = name
        self.ok = False
        t = read(name, "time")
        rss = read(name, "rss")
        if t is None:
            return
        # /usr/bin/time writes "Command exited with non-zero status N" first when it fails.
        wall, user, sys_ = map(float, t.strip().splitlines()[-1].split())
        self.wall, self.cpu = wall, user + sys_
        peak, procs = (rss or "0 0").split()
        self.rss_kib, self.procs = int(peak), int(procs)
        self.rc = int((read(name, "rc") or "0").strip())
        self.ok = True


def load_json(name):
    text = read(name, "json")
    if text is None:
        text = read(name, "out")  # oha prints its JSON on stdout
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def stampede(name):
    r = Run(name)
    j = load_json(name)
    if not r.ok or j is None:
        return None
    m = j["metrics"]
    r.reqs = m["http_reqs"]["count"]
    r.iters = m["iterations"]["count"]
    r.dropped = m.get("dropped_iterations", {}).get("count", 0)
    r.failed = m.get("http_req_failed", {}).get("trues", 0)
    d = m.get("http_req_duration", {})
    r.p50, r.p99 = d.get("p50"), d.get("p99")
    il = m.get("intended_latency")
    r.ip50, r.ip99 = (il["p50"], il["p99"]) if il else (None, None)
    lag = m.get("scheduling_lag")
    r.lag50, r.lag99 = (lag["p50"], lag["p99"]) if lag else (None, None)
    return r


def k6(name):
    r = Run(name)
    j = load_json(name)
    if not r.ok or j is None:
        return None
    m = j["metrics"]
    val = lambda k, f: m.get(k, {}).get("values", {}).get(f, 0)
    r.reqs = val("http_reqs", "count")
    r.iters = val("iterations", "count")
    r.dropped = val("dropped_iterations", "count")
    r.failed = val("http_req_failed", "passes")
    r.p50, r.p99 = val("http_req_duration", "med"), val("http_req_duration", "p(99)")
    r.vus_max = val("vus_max", "max") or val("vus_max", "value")
    return r


def wrk(name):
    r = Run(name)
    out = read(name, "out") or ""
    m = re.search(r"(\d+) requests in", out)
    if not r.ok or not m:
        return None
    r.reqs = int(m.group(1))
    r.failed = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    return r


def oha(name):
    r = Run(name)
    j = load_json(name)
    if not r.ok or j is None:
        return None
    r.reqs = sum(j.get("statusCodeDistribution", {}).values())
    r.failed = sum(j.get("errorDistribution", {}).values())
    lp = j.get("latencyPercentiles", {})
    r.p50 = lp.get("p50") * 1000 if lp.get("p50") is not None else None
    r.p99 = lp.get("p99") * 1000 if lp.get("p99") is not None else None
    return r


# --- formatting --------------------------------------------------------------------------------
DASH = "—"


def num(x, digits=0):
    if x is None:
        return DASH
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return DASH
    r = a / b
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


def mib(kib):
    return None if kib is None else kib / 1024


def per_req_us(r, count):
    return r.cpu / count * 1e6 if r and count else None


def mark(ok):
    return "✅ met" if ok else "❌ missed"


def missing(name, tool):
    rc = read(name, "rc")
    if rc is None:
        return f"{tool} ({name}): not run"
    return f"{tool} ({name}): failed (exit {rc.strip()}), see raw/{name}.err"


# --- the machine -------------------------------------------------------------------------------
def placement_line(name):
    err = read(name, "err") or ""
    return next((l.strip() for l in err.splitlines() if l.startswith("placement:")), DASH)


def lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
try:
    elapsed = int(open(os.path.join(RAW, "elapsed")).read())
except (OSError, ValueError):
    elapsed = None

out = []
w = out.append
w(f"# Stampede vs k6, wrk and oha — {datetime.date.today().isoformat()}")
w("")
w(f"Machine: {os.cpu_count()} cores (`nproc`), {lscpu_model()}, {mem_gib:.0f} GiB, "
  f"Linux {platform.release()}. Loopback only; the target runs on core 1 (`taskset -c 1`) and "
  f"every generator on core 0 (`taskset -c 0`). One run of each. "
  + (f"`bench/run.sh` took {elapsed // 60} min {elapsed % 60} s." if elapsed else ""))
w("")
w("Versions: " + "; ".join(v for v in (A.stampede, A.k6, A.wrk, A.oha) if v) + ".")
w("")
w("CPU = user + sys seconds of the generator and every process it waited for (`/usr/bin/time`); "
  "peak RSS = highest sum of VmRSS over the generator's process tree, sampled every 200 ms.")
w("")

targets = []

# --- a ----------------------------------------------------------------------------------------
conns, secs = int(A.a_conns), A.a_secs
a = {
    "wrk": wrk("a_wrk"),
    "oha": oha("a_oha"),
    "k6": k6("a_k6"),
    "stampede": stampede("a_stampede"),
    "stampede_js": stampede("a_stampede_js"),
}
w(f"## a. Throughput: {conns} connections, {secs:.0f} s, closed loop, 2 KB from nginx")
w("")
w("| tool | requests/s | CPU s | CPU µs/request | vs wrk | vs k6 | peak RSS MiB | RSS vs k6 |")
w("|---|---:|---:|---:|---:|---:|---:|---:|")
labels = {
    "wrk": "wrk `-t1`",
    "oha": "oha",
    "k6": f"k6 ({conns} VUs, `http.get` loop)",
    "stampede": f"Stampede (`constant-vus` {conns}, `--agents 0 --workers 1`)",
    "stampede_js": "Stampede running k6's script unmodified (`--workers 1`)",
}
cpu_a = {k: per_req_us(r, r.reqs) if r else None for k, r in a.items()}
for k, r in a.items():
    if r is None:
        notes.append(missing(f"a_{k}", k))
        w(f"| {labels[k]} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
        continue
    w(f"| {labels[k]} | {num(r.reqs / secs)} | {num(r.cpu, 2)} | {num(cpu_a[k], 2)} "
      f"| {ratio(cpu_a[k], cpu_a['wrk'])} | {ratio(cpu_a[k], cpu_a['k6'])} "
      f"| {num(mib(r.rss_kib), 1)} | {ratio(r.rss_kib, a['k6'].rss_kib if a['k6'] else None)} |")
w("")
if cpu_a["stampede"] and cpu_a["wrk"]:
    x = cpu_a["stampede"] / cpu_a["wrk"]
    targets.append(f"(a) CPU per request ≤ 1.5 × wrk's: {x:.2f}× — {mark(x <= 1.5)}")
if cpu_a["stampede"] and cpu_a["k6"]:
    x = cpu_a["stampede"] / cpu_a["k6"]
    targets.append(f"(a) CPU per request ≤ 0.2 × k6's: {x:.3f}× — {mark(x <= 0.2)}")
if cpu_a["stampede_js"] and cpu_a["k6"]:
    x = cpu_a["stampede_js"] / cpu_a["k6"]
    targets.append(f"(a) k6's script run by Stampede: CPU per request ≤ 1/4 of k6's: {x:.3f}× — {mark(x <= 0.25)}")

# --- b (and b50: the same at 50,000 VUs) -------------------------------------------------------
REQ_ALLOWANCE = 0.001  # a loopback GET of 2 KB from an idle nginx: well under 1 ms


def part_b(prefix, vus, ramp, hold, think, stampede_flags, goals):
    """Renders part b's table for the runs PREFIX_{k6,stampede,stampede_js}; returns (runs, planned)."""
    vus = int(vus)
    vu_seconds = vus * ramp / 2 + vus * hold
    planned = vu_seconds / (think + REQ_ALLOWANCE)
    runs = {"k6": k6(f"{prefix}_k6"), "stampede": stampede(f"{prefix}_stampede"),
            "stampede_js": stampede(f"{prefix}_stampede_js")}
    w(f"## {prefix}. {vus:,} VUs, each a GET then a {think:g} s sleep; ramp 0→{vus:,} over {ramp:.0f} s, "
      f"hold {hold:.0f} s")
    w("")
    w(f"Planned iterations, the same for both tools: the integral of VUs over time "
      f"({vus:,} × {ramp:.0f} s / 2 + {vus:,} × {hold:.0f} s = {vu_seconds:,.0f} VU·s) divided by one "
      f"iteration's length ({think:g} s of sleep + {REQ_ALLOWANCE * 1000:g} ms allowed for the request) "
      f"= **{planned:,.0f}**. Iterations finishing during the graceful stop count, as both tools count "
      f"them.")
    w("")
    w("| tool | iterations | of planned | failed requests | CPU s | CPU µs/iteration | peak RSS MiB | RSS vs k6 | p99 request ms |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    labels = {
        "k6": f"k6 (`ramping-vus`, `sleep({think:g})`)",
        "stampede": f"Stampede (`ramping-vus`, `think_time = \"{think:g}s\"`, {stampede_flags})",
        "stampede_js": f"Stampede running k6's script unmodified (`sleep({think:g})`)",
    }
    for k, r in runs.items():
        if r is None:
            notes.append(missing(f"{prefix}_{k}", k))
            w(f"| {labels[k]} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
            continue
        k6_rss = runs["k6"].rss_kib if runs["k6"] else None
        w(f"| {labels[k]} | {num(r.iters)} | {r.iters / planned * 100:.1f} % | {num(r.failed)} "
          f"| {num(r.cpu, 1)} | {num(per_req_us(r, r.iters), 1)} | {num(mib(r.rss_kib), 0)} "
          f"| {ratio(r.rss_kib, k6_rss)} | {num(r.p99, 1)} |")
    w("")
    for k in ("stampede", "stampede_js"):
        s_ = runs[k]
        if s_ is None:
            continue
        what = "" if k == "stampede" else "k6's script run by Stampede: "
        min_share, max_rss = goals[k]
        x = s_.iters / planned
        targets.append(f"({prefix}) {what}≥ {min_share * 100:g} % of planned iterations: {x * 100:.1f} % — "
                       f"{mark(x >= min_share)}")
        if runs["k6"]:
            y = s_.rss_kib / runs["k6"].rss_kib
            targets.append(f"({prefix}) {what}peak RSS ≤ {max_rss:g} × k6's: {y:.3f}× — {mark(y <= max_rss)}")
    return runs, planned


b, _ = part_b("b", A.b_vus, A.b_ramp, A.b_hold, A.b_think, "`--agents 0 --workers 1`",
              {"stampede": (0.98, 0.1), "stampede_js": (0.99, 0.05)})
vus = int(A.b_vus)
if any(read(f"b50_{k}", "time") is not None for k in ("k6", "stampede", "stampede_js")):
    b50, _ = part_b("b50", A.b50_vus, A.b50_ramp, A.b50_hold, A.b50_think,
                    "processes and source addresses placed by Stampede",
                    {"stampede": (0.99, 0.1), "stampede_js": (0.99, 0.05)})
    k6r = b50["k6"]
    if k6r is not None:
        stopped = " (stopped by the time bound)" if k6r.rc == 124 else ""
        w(f"k6 at this size is one process: it started {num(k6r.vus_max)} of the {int(A.b50_vus):,} VUs "
          f"(`vus_max`), failed requests are connections refused by its open-files limit (`socket: too "
          f"many open files`), exit status {k6r.rc}{stopped}. Stampede's placement line: "
          f"`{placement_line('b50_stampede')}`.")
        w("")

# --- c ----------------------------------------------------------------------------------------
rate, csecs, s_at, s_for = A.c_rate, A.c_secs, A.c_stall_at, A.c_stall_for
SERVICE = 0.001  # the stalling server's normal answer time
n = int(round(rate * csecs))
lat = sorted(
    ((s_at + s_for - i / rate) if s_at <= i / rate < s_at + s_for else 0.0) + SERVICE
    for i in range(n)
)


def pct(sorted_vals, q):  # nearest rank
    return sorted_vals[max(0, math.ceil(q / 100 * len(sorted_vals)) - 1)]


true50, true99 = pct(lat, 50) * 1000, pct(lat, 99) * 1000
c = {"oha": oha("c_oha"), "k6": k6("c_k6"), "stampede": stampede("c_stampede")}
w(f"## c. Open model: {rate:,.0f} requests/s for {csecs:.0f} s; the target holds everything "
  f"that arrives in [{s_at:g} s, {s_at + s_for:g} s) until {s_at + s_for:g} s")
w("")
w(f"Truth, from the schedule: {n:,} arrivals at a = i / {rate:,.0f} s; an arrival in the stall "
  f"waits {s_at + s_for:g} − a, every request also takes {SERVICE * 1000:g} ms → "
  f"p50 **{true50:.1f} ms**, p99 **{true99:.1f} ms** (nearest rank). Same pool for every "
  f"tool: {A.c_pool} VUs / connections (the stall needs {rate * s_for:,.0f} in flight).")
w("")
w("| tool | metric | requests | dropped | p50 ms | p99 ms | p99 vs truth |")
w("|---|---|---:|---:|---:|---:|---:|")
w(f"| truth | schedule | {n:,} | 0 | {true50:.1f} | {true99:.1f} | 1.00× |")
rows = [
    ("oha", "`-q` + `--latency-correction`", lambda r: (r.p50, r.p99)),
    ("k6", "`http_req_duration`", lambda r: (r.p50, r.p99)),
    ("stampede", "`http_req_duration`", lambda r: (r.p50, r.p99)),
    ("stampede", "`intended_latency`", lambda r: (r.ip50, r.ip99)),
]
names = {"oha": "oha", "k6": "k6 (`constant-arrival-rate`)", "stampede": "Stampede (`constant-arrival-rate`, `--agents 0 --workers 1`)"}
for k, metric, get in rows:
    r = c[k]
    if r is None:
        if metric != "`intended_latency`":
            notes.append(missing(f"c_{k}", k))
        w(f"| {names[k]} | {metric} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
        continue
    p50_, p99_ = get(r)
    w(f"| {names[k]} | {metric} | {num(r.reqs)} | {num(getattr(r, 'dropped', None))} "
      f"| {num(p50_, 1)} | {num(p99_, 1)} | {ratio(p99_, true99)} |")
w("| wrk | — | skipped: no fixed-rate mode | | | | |")
w("")
if c["stampede"] and c["stampede"].lag50 is not None:
    r = c["stampede"]
    w(f"Stampede's own `scheduling_lag` (scheduled → actual start of an iteration): p50 "
      f"{r.lag50:.1f} ms, p99 {r.lag99:.1f} ms. k6 started {num(c['k6'].iters) if c['k6'] else DASH} "
      f"of the {n:,} planned iterations.")
    w("")
if c["stampede"] and c["stampede"].ip99 is not None:
    x = c["stampede"].ip99 / true99
    targets.append(f"(c) Stampede's open-model p99 shows the stall: intended_latency p99 "
                   f"{c['stampede'].ip99:.1f} ms vs truth {true99:.1f} ms ({x:.2f}×) — "
                   f"{mark(0.8 <= x <= 1.2)}")

# --- d ----------------------------------------------------------------------------------------
agents = A.agents.split()
w("## d. Stampede with local agent processes (`--agents N --workers N`, all on core 0)")
w("")
w("CPU and RSS cover the whole process tree: `stampede run` (the coordinator) and its "
  "`stampede agent` children. `--agents 0` is the in-process run of (a) and (b).")
w("")
w("| workload | agents | processes | requests | CPU s | CPU µs/request | vs in-process | peak RSS MiB | vs in-process |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for part, base in (("a", a["stampede"]), ("b", b["stampede"])):
    label = f"(a) {conns} VUs, {secs:.0f} s" if part == "a" else f"(b) {vus:,} VUs"
    runs = [("0", base)] + [(n_, stampede(f"d_{part}_agents{n_}")) for n_ in agents]
    base_us = per_req_us(base, base.reqs) if base else None
    for n_, r in runs:
        if r is None:
            if n_ != "0":
                notes.append(missing(f"d_{part}_agents{n_}", "stampede"))
            w(f"| {label} | {n_} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} | {DASH} |")
            continue
        us = per_req_us(r, r.reqs)
        w(f"| {label} | {n_} | {r.procs} | {num(r.reqs)} | {num(r.cpu, 2)} | {num(us, 2)} "
          f"| {ratio(us, base_us)} | {num(mib(r.rss_kib), 0)} "
          f"| {ratio(r.rss_kib, base.rss_kib if base else None)} |")
w("")

# --- parts not run (PARTS="b50"): left out rather than shown as dashes --------------------------
def ran(part):
    return any(f.startswith(part + "_") for f in os.listdir(RAW))


kept, skip = [], False
for line in out:
    m = re.match(r"## (\w+)\. ", line)
    if m:
        skip = not ran(m.group(1))
    elif line.startswith("## "):
        skip = False
    if not skip:
        kept.append(line)
out[:] = kept
targets = [t for t in targets if ran(t[1:t.index(")")])]
notes = [n_ for n_ in notes if not n_.endswith(": not run")]

# --- targets and notes -------------------------------------------------------------------------
w("## Targets")
w("")
for t in targets:
    w(f"- {t}")
w("")
try:
    notes = [l.strip() for l in open(os.path.join(RAW, "notes.txt")) if l.strip()] + notes
except OSError:
    pass
if notes:
    w("## Notes")
    w("")
    for n_ in dict.fromkeys(notes):
        w(f"- {n_}")
    w("")
print("\n".join(out))
