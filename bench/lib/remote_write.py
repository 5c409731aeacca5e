#!/usr/bin/env python3
"""What `--out prometheus-rw` costs a run, and what a receiver away for 10 s
costs it (bench/remote-write.sh runs this).

Three variants of one open-model run (a fixed arrival rate, so each sends the
same requests) against the bundled shop, all on 127.0.0.1, interleaved ROUNDS
times:
  none  no remote write;
  up    --out prometheus-rw to a real Prometheus that stays up;
  away  the same, Prometheus stopped AWAY_AT seconds into the run and started
        again 10 s later.
Per variant, the medians of: the stampede process's CPU seconds (user + sys),
its peak RSS, the run's http_req_duration p95 and p99, and what remote write
delivered; then the ratios to `none`."""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

STAMPEDE = sys.argv[1]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "30"))
RATE = int(os.environ.get("RATE", "400"))
AWAY_AT = float(os.environ.get("AWAY_AT", "8"))
AWAY_FOR = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer in {seconds} s")


class Prometheus:
    def __init__(self, root):
        self.root, self.port, self.proc = root, free_port(), None
        with open(os.path.join(root, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={self.root}/prometheus.yml", f"--storage.tsdb.path={self.root}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             "--enable-feature=native-histograms"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.root, "log"), "a"))
        wait_http(f"http://127.0.0.1:{self.port}/-/ready")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def url(self):
        return f"http://127.0.0.1:{self.port}/api/v1/write"


def main():
    work = tempfile.mkdtemp(prefix="stampede-rw-bench-")
    edge_port = free_port()
    shop = subprocess.Popen([STAMPEDE, "shop", "--products", "20000", "--edge-listen", f"127.0.0.1:{edge_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prom = None
    try:
        wait_http(f"http://127.0.0.1:{edge_port}/", 120)
        prom = Prometheus(work)
        scenario = os.path.join(work, "rw.toml")
        with open(scenario, "w") as f:
            f.write(f"""
[target]
base_url = "http://127.0.0.1:{edge_port}"

[[flows.shop.steps]]
name = "product"
url = "/api/products/{{{{ random_int(1, 20000) }}}}"
[[flows.shop.steps]]
name = "image"
url = "/static/img/{{{{ random_int(1, 20000) }}}}.jpg"

[scenarios.open]
executor = "constant-arrival-rate"
rate = {RATE}
duration = "{DURATION}s"
pre_allocated_vus = 50
max_vus = 400
flow = "shop"
""")
        results = {v: [] for v in ("none", "up", "away")}
        for r in range(ROUNDS):
            for variant in ("none", "up", "away"):
                summary = os.path.join(work, f"{variant}-{r}.json")
                cmd = ["/usr/bin/time", "-f", "%U %S %M", "-o", os.path.join(work, "time"), STAMPEDE, "run", scenario,
                       "--agents", "0", "--quiet", "--out", f"summary={summary}"]
                if variant != "none":
                    cmd += ["--out", f"prometheus-rw={prom.url()}", "--prometheus-rw-testid", f"{variant}-{r}"]
                run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if variant == "away":
                    time.sleep(AWAY_AT)
                    prom.stop()
                    time.sleep(AWAY_FOR)
                    prom.start()
                _, err = run.communicate(timeout=DURATION + 120)
                if run.returncode != 0:
                    sys.exit(f"{variant}: exit {run.returncode}: {err.decode()[-2000:]}")
                user, sys_, rss = open(os.path.join(work, "time")).read().split()[-3:]
                s = json.load(open(summary))
                d = (s.get("deliveries") or [{}])[0]
                results[variant].append({
                    "cpu": float(user) + float(sys_), "rss": int(rss) / 1024,
                    "p95": s["metrics"]["http_req_duration"]["p95"], "p99": s["metrics"]["http_req_duration"]["p99"],
                    "reqs": s["metrics"]["http_reqs"]["count"], "sent": d.get("batches_sent", 0),
                    "dropped": d.get("batches_dropped", 0), "failed": d.get("failed_attempts", 0)})
                print(f"round {r + 1} {variant:>4}: " + json.dumps(results[variant][-1]), flush=True)
        med = {v: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for v, rs in results.items()}
        print()
        print(f"{RATE}/s for {DURATION} s, {ROUNDS} rounds (medians); away: Prometheus stopped at {AWAY_AT:.0f} s for {AWAY_FOR:.0f} s")
        print("| variant | CPU s | × none | peak RSS MiB | p95 ms | p99 ms | requests | batches sent | dropped | failed attempts |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for v, m in med.items():
            print(f"| {v} | {m['cpu']:.2f} | {m['cpu'] / med['none']['cpu']:.2f} | {m['rss']:.0f} | {m['p95']:.2f} | "
                  f"{m['p99']:.2f} | {m['reqs']:.0f} | {m['sent']:.0f} | {m['dropped']:.0f} | {m['failed']:.0f} |")
    finally:
        if prom and prom.proc:
            prom.proc.kill()
        shop.kill()


main()
