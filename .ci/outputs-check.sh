#!/usr/bin/env bash
# A real run of the smoke scenario against the bundled shop, checking what
# leaves the terminal: the live Prometheus endpoint passes `promtool check
# metrics` during the run, and the HdrHistogram interval log it wrote reads in
# the Python hdrhistogram package and in HdrHistogram's Java
# HistogramLogProcessor, both agreeing with the JSON summary.
#   .ci/outputs-check.sh target/debug/stampede
set -euo pipefail
bin=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" run scenarios/smoke.toml --headless -q --metrics-listen "127.0.0.1:$port" \
  --out hlog="$out/run.hlog" --out summary="$out/run.json" --out html="$out/run.html" --out junit="$out/run.xml" \
  > "$out/stdout" 2> "$out/stderr" &
pid=$!
ok=""
for _ in $(seq 90); do
  sleep 1
  if python3 - "$port" "$out/metrics.txt" <<'PY'
import sys, urllib.request
try:
    body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=2).read()
except Exception:
    sys.exit(1)
open(sys.argv[2], "wb").write(body)
sys.exit(0 if b"stampede_http_requests_total{" in body else 1)
PY
  then ok=1; break; fi
done
[ -n "$ok" ] || { echo "outputs-check: no metrics with requests from the live endpoint" >&2; cat "$out/stderr" >&2; exit 1; }
promtool check metrics < "$out/metrics.txt"
echo "outputs-check: promtool accepts the live endpoint ($(grep -c '^stampede_' "$out/metrics.txt") samples)"
wait "$pid"
python3 bench/soak/check_hlog.py "$out/run.hlog" "$out/run.json"
python3 bench/soak/check_hlog_java.py "$out/run.hlog" "$out/run.json"
grep -q '<svg' "$out/run.html" && grep -q '<testsuites' "$out/run.xml"
echo "outputs-check: ok"
