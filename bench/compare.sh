#!/usr/bin/env bash
# `stampede compare`, measured twice over:
#   1. speed: two synthetic one-hour summaries with 200 series each (written by
#      crates/report/examples/compare_inputs.rs), compared 5 times; the median
#      wall time (target: under 1 s);
#   2. calibration: crates/cli/tests/compare.rs's full_calibration, 20 A/A and
#      20 A/B pairs (+10 % server delay) of 6 s runs against a loopback server,
#      plus a slow-tail run (about 5 minutes; CALIBRATION_PAIRS to change).
#
#   bench/compare.sh                # both
#   PARTS=speed bench/compare.sh    # or PARTS=calibration
# All load goes to 127.0.0.1. Not run in CI (a smaller calibration is). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PARTS=${PARTS:-speed calibration}
cargo build --release -q -p stampede
STAMPEDE=${CARGO_TARGET_DIR:-target}/release/stampede
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT

if [[ $PARTS == *speed* ]]; then
  cargo run --release -q -p stampede-report --example compare_inputs -- "$RAW" 200 3600 1000
  ls -l "$RAW"/*.json | awk '{printf "  %s: %.1f MB\n", $NF, $5 / 1e6}'
  times=()
  for _ in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$STAMPEDE" compare "$RAW/baseline.json" "$RAW/candidate.json" >"$RAW/out.txt" || [[ $? == 111 ]]
    e=$(date +%s.%N)
    times+=("$(python3 -c "print(f'{$e - $s:.3f}')")")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  echo "compare, 2 × 1 h × 200 series: ${times[*]} s; median ${median} s (target < 1 s)"
  grep -c "SLOWER" "$RAW/out.txt" | xargs echo "  series found slower (the candidate is 5 % slower above the median):"
fi

if [[ $PARTS == *calibration* ]]; then
  CALIBRATION_PAIRS=${CALIBRATION_PAIRS:-20} cargo test -q -p stampede --test compare full_calibration \
    -- --ignored --nocapture 2>&1 | grep -E "^(compare|calibration)"
fi
