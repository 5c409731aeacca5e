#!/usr/bin/env bash
# The story's title on this machine: scenarios/black-friday-50k.toml (50,000 shoppers) against the
# bundled shop, by the one command a user runs, measured: VUs reached and how long they were held,
# iterations against plan, dropped iterations, thresholds, and the peak RSS of every process.
#
#   bench/fifty-k.sh            # ~5 min; writes bench/results/fifty-k.md (raw files in bench/out/fifty-k)
# Loopback only, bounded by the scenario's stages. Not run in CI (crates/cli/tests/placement.rs
# checks the placement there, at a small size).
set -euo pipefail
cd "$(dirname "$0")/.."
RAW=bench/out/fifty-k
rm -rf "$RAW" && mkdir -p "$RAW"
cargo build --release -q -p stampede
BIN=${CARGO_TARGET_DIR:-target}/release/stampede
ulimit -n "$(ulimit -Hn)"
SCENARIO=scenarios/black-friday-50k.toml
"$BIN" run "$SCENARIO" --headless --out summary="$RAW/summary.json" --out csv="$RAW/run.csv" \
  >"$RAW/out.txt" 2>"$RAW/err.txt" &
pid=$!
python3 bench/lib/rss_peaks.py "$pid" --interval 0.5 >"$RAW/rss.txt" &
sampler=$!
rc=0
wait "$pid" || rc=$?
wait "$sampler" || true
echo "$rc" >"$RAW/rc"
python3 bench/lib/fifty_k.py "$RAW" "$SCENARIO" "$("$BIN" --version | head -1)" | tee bench/results/fifty-k.md
