#!/usr/bin/env bash
# Memory per idle JS VU, engine included: Stampede runs bench/lib/k6_idle.js (every VU
# suspended in sleep()) with N1 and then N2 VUs on one worker; the peak RSS difference over
# N2 - N1 is what one more VU costs. k6 runs the same script with N1 VUs for reference.
#
#   bench/js-memory.sh            # N1=1000 N2=10000, 8 s each
# No load is sent (the script only sleeps). Not run in CI. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-1000}
N2=${N2:-10000}
SECS=${SECS:-8}
if [[ -z "${STAMPEDE:-}" ]]; then
  cargo build --release -q -p stampede
  STAMPEDE=${CARGO_TARGET_DIR:-target}/release/stampede
fi
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
peak() { # peak NAME CMD… : the peak summed RSS (KiB) of CMD's process tree
  local name=$1; shift
  "$@" >"$RAW/$name.out" 2>"$RAW/$name.err" &
  local pid=$!
  python3 bench/lib/rss_tree.py "$pid" --interval 0.1 >"$RAW/$name.rss" &
  local sampler=$!
  wait "$pid" || { echo "$name failed:" >&2; tail -5 "$RAW/$name.err" >&2; }
  wait "$sampler" || true
  cut -d" " -f1 "$RAW/$name.rss"
}
run_st() { peak "st$1" "$STAMPEDE" run bench/lib/k6_idle.js --headless -q --workers 1 -e VUS="$1" -e DURATION="${SECS}s"; }
a=$(run_st "$N1")
b=$(run_st "$N2")
per=$(python3 -c "print(f'{($b - $a) * 1024 / ($N2 - $N1):.0f}')")
echo "Stampede, k6_idle.js: $N1 VUs peak RSS $((a / 1024)) MiB, $N2 VUs $((b / 1024)) MiB: $per bytes per idle JS VU (engine included)"
K6=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/k6
[[ -x $K6 ]] || K6=$(command -v k6 || true)
if [[ -n $K6 ]]; then
  k=$(peak k6 env K6_NO_USAGE_REPORT=true "$K6" run -q --no-usage-report -e VUS="$N1" -e DURATION="${SECS}s" bench/lib/k6_idle.js)
  echo "k6, the same script: $N1 VUs peak RSS $((k / 1024)) MiB ($(python3 -c "print(f'{$k * 1024 / $N1:.0f}')") bytes per VU, runtime included)"
fi
