#!/usr/bin/env bash
# Instructions per request, this build against a previous one, counted by
# valgrind's callgrind: unlike CPU seconds, an instruction count does not move
# when the other core is busy, so two builds can be compared on a shared,
# noisy 2-core machine. Each build runs a fixed number of plain GETs at two
# sizes; the difference divided by the extra requests is the cost of one
# request, start-up excluded. Loopback only (nginx on 127.0.0.1); bounded by
# the request counts.
#
#   BASELINE=path/to/old/stampede bench/instructions.sh
#   SMALL=5000 LARGE=25000 ROUNDS=3   (defaults)
#
# Prints a Markdown table with the ratio. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

BASELINE=${BASELINE:?set BASELINE to a previous build of stampede}
SMALL=${SMALL:-5000}
LARGE=${LARGE:-25000}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
[ -x "$BASELINE" ] || { echo "BASELINE=$BASELINE is not an executable" >&2; exit 2; }

need() { command -v "$1" >/dev/null 2>&1; }
if ! need valgrind || ! need nginx; then
  echo "installing valgrind and nginx (Debian packages)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind nginx-light >/dev/null
fi

cargo build --release -q -p stampede
BIN=target/release/stampede

WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
head -c 2048 /dev/zero | tr '\0' 'x' > "$WORK/index.html"
PORT=${PORT:-18081}
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  server { listen 127.0.0.1:$PORT; root $WORK; location / { } }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK"
sleep 0.3
curl -fs "http://127.0.0.1:$PORT/index.html" >/dev/null

for n in "$SMALL" "$LARGE"; do
  cat > "$WORK/get-$n.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$PORT"
[[flows.get.steps]]
url = "/index.html"
[scenarios.load]
executor = "shared-iterations"
vus = 50
iterations = $n
max_duration = "10m"
flow = "get"
TOML
done

# Instructions of one whole run of `$1` with `$2` requests.
instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" run "$WORK/get-$2.toml" \
    --agents 0 --workers 1 -q --headless 2>&1 >/dev/null | awk '/Collected/ {print $4}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

: > "$WORK/st.per" ; : > "$WORK/base.per"
for r in $(seq "$ROUNDS"); do
  # Rounds alternate which build goes first.
  if [ $((r % 2)) -eq 1 ]; then builds="$BIN $BASELINE"; else builds="$BASELINE $BIN"; fi
  for b in $builds; do
    tag=st; [ "$b" = "$BIN" ] || tag=base
    small=$(instructions "$b" "$SMALL")
    large=$(instructions "$b" "$LARGE")
    per=$(( (large - small) / (LARGE - SMALL) ))
    echo "$per" >> "$WORK/$tag.per"
    echo "round $r: $tag ($b) $per instructions per request ($small at $SMALL, $large at $LARGE)" >&2
  done
done
ST=$(median < "$WORK/st.per")
BASE=$(median < "$WORK/base.per")
RATIO=$(echo "scale=3; $ST / $BASE" | bc)

cat <<MD | tee "$OUT/instructions.md"

## Instructions per request (callgrind) — $(date -u +%Y-%m-%d), $(nproc) cores

| build | instructions per plain GET (median of $ROUNDS; runs of $SMALL and $LARGE requests) |
|---|---|
| this build \`$BIN\` | $ST |
| baseline \`$BASELINE\` | $BASE |
| this build / baseline | ${RATIO} × (each round: $(paste -sd' ' "$WORK/st.per") vs $(paste -sd' ' "$WORK/base.per")) |

MD
