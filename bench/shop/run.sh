#!/usr/bin/env bash
# Benchmark of the bundled shop (target-app), on loopback only.
#
# Measures, at the default catalog size (200,000 products):
#   1. seeding time (release build);
#   2. listing latency at the origin (GET /api/products?category=&sort=popularity&page=), with the
#      indexes and with --no-indexes, by wrk with a fixed, low concurrency;
#   3. requests/s and p99 through the edge for cached product pages (GET /api/products/{id},
#      a few ids), by wrk.
# Prints a Markdown table. Every request goes to 127.0.0.1; every wrk run is bounded in time.
#
# Usage: bench/shop/run.sh [--runs N] [--duration SECS] [--connections N] [--products N]
set -euo pipefail

RUNS=3
DURATION=10
CONNECTIONS=64
PRODUCTS=200000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --products) PRODUCTS="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target-shop}"
OUT="$ROOT/bench/out/shop"
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  echo "installing wrk…" >&2
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

echo "building the shop (release)…" >&2
(cd "$ROOT" && cargo build --release -p stampede-shop --bin shop >&2)
SHOP="$CARGO_TARGET_DIR/release/shop"

SHOP_PID=""
stop_shop() {
  if [[ -n "$SHOP_PID" ]]; then
    kill "$SHOP_PID" 2>/dev/null || true
    wait "$SHOP_PID" 2>/dev/null || true
    SHOP_PID=""
  fi
}
trap stop_shop EXIT

# start_shop NAME ARGS… : starts the shop, waits for `ready`, sets ORIGIN, EDGE and SEED_SECS.
start_shop() {
  local name="$1"; shift
  local log="$OUT/$name.stdout" err="$OUT/$name.stderr"
  "$SHOP" --products "$PRODUCTS" "$@" >"$log" 2>"$err" &
  SHOP_PID=$!
  for _ in $(seq 1 1200); do
    if grep -qx ready "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$SHOP_PID" 2>/dev/null; then cat "$err" >&2; echo "shop exited" >&2; exit 1; fi
    sleep 0.1
  done
  grep -qx ready "$log" || { echo "shop not ready after 120 s" >&2; exit 1; }
  ORIGIN="$(sed -n 's/^origin: //p' "$log")"
  EDGE="$(sed -n 's/^edge: //p' "$log")"
  SEED_SECS="$(sed -n 's/.*seeded [0-9]* products in \([0-9.]*\) s.*/\1/p' "$err")"
  case "$ORIGIN$EDGE" in
    http://127.0.0.1:*http://127.0.0.1:*) ;;
    *) echo "refusing non-loopback URLs: $ORIGIN $EDGE" >&2; exit 1 ;;
  esac
}

LISTING_LUA="$OUT/listing.lua"
cat >"$LISTING_LUA" <<'LUA'
-- Cycles over categories and the first pages, as shoppers browsing a category do.
local n = 0
request = function()
  n = n + 1
  local category = (n % 50) + 1
  local page = (math.floor(n / 50) % 5) + 1
  return wrk.format("GET", "/api/products?category=" .. category .. "&sort=popularity&page=" .. page)
end
LUA

PRODUCT_LUA="$OUT/product.lua"
cat >"$PRODUCT_LUA" <<'LUA'
-- A few hot product pages, already cached at the edge.
local ids = {1, 17, 256, 4096, 65536}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/api/products/" .. ids[(n % #ids) + 1])
end
LUA

# wrk_run URL LUA CONNECTIONS THREADS DURATION → prints "rps p50_ms p99_ms"
wrk_run() {
  local url="$1" lua="$2" conns="$3" threads="$4" dur="$5"
  local text
  text="$(wrk -t"$threads" -c"$conns" -d"${dur}s" --latency -s "$lua" "$url")"
  echo "$text" >>"$OUT/wrk.log"
  local rps p50 p99
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$text")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$text")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$text")"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99")"
}

to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { print v }
  }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

: >"$OUT/wrk.log"
declare -a SEEDS SEEDS_NOIDX IDX_P50 IDX_P99 IDX_RPS SCAN_P50 SCAN_P99 SCAN_RPS EDGE_RPS EDGE_P99 EDGE_P50

for run in $(seq 1 "$RUNS"); do
  echo "run $run/$RUNS: indexed shop…" >&2
  start_shop "indexed-$run"
  SEEDS+=("$SEED_SECS")
  curl -fsS "$EDGE/api/products/1" >/dev/null 2>&1 || true
  read -r rps p50 p99 < <(wrk_run "$ORIGIN" "$LISTING_LUA" 4 1 "$DURATION")
  IDX_RPS+=("$rps"); IDX_P50+=("$p50"); IDX_P99+=("$p99")
  # Warm the edge, then measure cached product pages through it.
  for id in 1 17 256 4096 65536; do
    for _ in 1 2; do wrk -t1 -c1 -d1s "$EDGE/api/products/$id" >/dev/null; done
  done
  read -r rps p50 p99 < <(wrk_run "$EDGE" "$PRODUCT_LUA" "$CONNECTIONS" 1 "$DURATION")
  EDGE_RPS+=("$rps"); EDGE_P50+=("$p50"); EDGE_P99+=("$p99")
  curl -fsS "$EDGE/metrics" | grep -E '^shop_edge_(origin_fetches_total|requests_total)' >>"$OUT/edge-metrics-$run.txt" 2>/dev/null || true
  stop_shop

  echo "run $run/$RUNS: shop with --no-indexes…" >&2
  start_shop "noindex-$run" --no-indexes
  SEEDS_NOIDX+=("$SEED_SECS")
  read -r rps p50 p99 < <(wrk_run "$ORIGIN" "$LISTING_LUA" 4 1 "$DURATION")
  SCAN_RPS+=("$rps"); SCAN_P50+=("$p50"); SCAN_P99+=("$p99")
  stop_shop
done

med() { printf '%s\n' "$@" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }'; }

IDX50=$(med "${IDX_P50[@]}"); IDX99=$(med "${IDX_P99[@]}"); IDXR=$(med "${IDX_RPS[@]}")
SCN50=$(med "${SCAN_P50[@]}"); SCN99=$(med "${SCAN_P99[@]}"); SCNR=$(med "${SCAN_RPS[@]}")
ERPS=$(med "${EDGE_RPS[@]}"); E50=$(med "${EDGE_P50[@]}"); E99=$(med "${EDGE_P99[@]}")
SEED=$(med "${SEEDS[@]}"); SEED_NOIDX=$(med "${SEEDS_NOIDX[@]}")

cat <<MD

## Shop benchmark — $PRODUCTS products, medians of $RUNS runs ($(nproc) cores, loopback, wrk ${DURATION}s)

| measurement | value |
| --- | --- |
| seeding $PRODUCTS products + indexes + FTS (release) | ${SEED} s (runs: ${SEEDS[*]}) |
| seeding $PRODUCTS products, \`--no-indexes\` | ${SEED_NOIDX} s (runs: ${SEEDS_NOIDX[*]}) |
| listing, with indexes (4 conns) | p50 ${IDX50} ms, p99 ${IDX99} ms, ${IDXR} req/s |
| listing, \`--no-indexes\` (4 conns) | p50 ${SCN50} ms, p99 ${SCN99} ms, ${SCNR} req/s |
| listing p50 ratio, no-indexes / indexes | $(ratio "$SCN50" "$IDX50")× |
| edge, cached \`GET /api/products/{id}\` ($CONNECTIONS conns) | ${ERPS} req/s, p50 ${E50} ms, p99 ${E99} ms (runs: ${EDGE_RPS[*]}) |
| edge target ≥ 10,000 req/s | $(awk -v r="$ERPS" 'BEGIN { print (r >= 10000) ? "met" : "NOT met" }') |

Raw wrk output: bench/out/shop/wrk.log
MD
