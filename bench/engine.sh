#!/usr/bin/env bash
# Engine benchmark: CPU seconds per request and memory per idle VU, with wrk
# measured in the same run as the reference. Loopback only; bounded in time.
#
#   bench/engine.sh            # both parts
#   VUS=15000 bench/engine.sh  # idle-VU part size (default 15000)
#   BASELINE=path/to/old/stampede bench/engine.sh
#                              # also time a previous build in the same rounds
#                              # (new features must cost nothing when unused)
#
# Prints a Markdown table with ratios. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

VUS=${VUS:-15000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  echo "installing wrk and nginx (Debian packages)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p stampede
BIN=target/release/stampede
BASELINE=${BASELINE:-}
if [ -n "$BASELINE" ] && [ ! -x "$BASELINE" ]; then
  echo "BASELINE=$BASELINE is not an executable" >&2
  exit 2
fi

# --- target: nginx serving a 2 KB file with keep-alive, on its own core ---
WORK=$(mktemp -d)
trap 'kill $(cat "$WORK/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=18080
source bench/lib/nginx.sh
start_nginx "$WORK" "$PORT" 1

# CPU seconds (user+sys) of a finished command, from /usr/bin/time.
cpu_of() { awk '{print $1+$2}' "$1"; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# --- part 1: CPU per request, 1 thread each, generator pinned to core 0 ---
cat > "$WORK/throughput.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$PORT"
[[flows.get.steps]]
url = "/index.html"
[scenarios.load]
executor = "constant-vus"
vus = $CONNS
duration = "${DURATION}s"
flow = "get"
TOML

for r in $(seq "$ROUNDS"); do
  /usr/bin/time -f "%U %S" -o "$WORK/wrk.time" taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/index.html" > "$WORK/wrk.out"
  wrk_reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  wrk_cpu=$(cpu_of "$WORK/wrk.time")
  echo "$wrk_cpu $wrk_reqs" >> "$OUT/wrk-cpu.txt"
  echo "scale=12; $wrk_cpu / $wrk_reqs * 1000000" | bc >> "$WORK/wrk.us"

  # Rounds alternate which build goes first, so drift does not favour one.
  builds="$BIN"
  if [ -n "$BASELINE" ]; then
    if [ $((r % 2)) -eq 1 ]; then builds="$BIN $BASELINE"; else builds="$BASELINE $BIN"; fi
  fi
  for b in $builds; do
    tag=st; [ "$b" = "$BIN" ] || tag=base
    /usr/bin/time -f "%U %S" -o "$WORK/$tag.time" taskset -c 0 "$b" run "$WORK/throughput.toml" --agents 0 --workers 1 -q --headless --out summary="$WORK/$tag.json" > /dev/null
    reqs=$(python3 -c "import json;print(json.load(open('$WORK/$tag.json'))['metrics']['http_reqs']['count'])")
    cpu=$(cpu_of "$WORK/$tag.time")
    echo "scale=12; $cpu / $reqs * 1000000" | bc >> "$WORK/$tag.us"
    echo "round $r: $tag ($b) $reqs req in ${cpu}s CPU" >&2
  done
  echo "round $r: wrk $wrk_reqs req in ${wrk_cpu}s CPU" >&2
done
WRK_US=$(median < "$WORK/wrk.us")
ST_US=$(median < "$WORK/st.us")
CPU_RATIO=$(echo "scale=3; $ST_US / $WRK_US" | bc)
BASE_ROW=""
if [ -n "$BASELINE" ]; then
  BASE_US=$(median < "$WORK/base.us")
  BASE_RATIO=$(echo "scale=3; $BASE_US / $WRK_US" | bc)
  NEW_VS_BASE=$(echo "scale=3; $ST_US / $BASE_US" | bc)
  BASE_ROW="
| same, baseline build \`$BASELINE\` | ${BASE_US} µs | ${WRK_US} µs | ${BASE_RATIO} × (this build / baseline: ${NEW_VS_BASE} ×) |"
fi

# --- part 2: memory per idle VU ---
# Each VU makes one request, then sleeps in think time holding its
# keep-alive connection. RSS is sampled while every VU sleeps, and compared
# with the same run at 100 VUs to remove the fixed cost.
idle_rss() {
  local vus=$1
  cat > "$WORK/idle.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$PORT"
timeout = "30s"
[[flows.idle.steps]]
url = "/index.html"
think_time = "60s"
[scenarios.idle]
executor = "ramping-vus"
start_vus = 0
stages = [{ duration = "10s", target = $vus }, { duration = "20s", target = $vus }]
graceful_ramp_down = "0s"
graceful_stop = "0s"
flow = "idle"
TOML
  "$BIN" run "$WORK/idle.toml" --agents 0 -q --headless --out summary="$WORK/idle.json" > /dev/null &
  local pid=$!
  sleep 22
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  local conns
  conns=$(ls "/proc/$pid/fd" | wc -l)
  wait $pid || true
  local reqs
  reqs=$(python3 -c "import json;print(json.load(open('$WORK/idle.json'))['metrics']['http_reqs']['count'])")
  echo "$rss $conns $reqs"
}
read -r BASE_RSS BASE_FDS BASE_REQS < <(idle_rss 100)
read -r BIG_RSS BIG_FDS BIG_REQS < <(idle_rss "$VUS")
PER_VU=$(echo "scale=2; ($BIG_RSS - $BASE_RSS) * 1024 / ($VUS - 100)" | bc)

cat <<MD | tee "$OUT/engine.md"

## Stampede engine benchmark — $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r)

| measure | stampede | wrk (reference) | ratio |
|---|---|---|---|
| CPU per request, 1 thread, $CONNS connections, ${DURATION}s (median of $ROUNDS) | ${ST_US} µs | ${WRK_US} µs | ${CPU_RATIO} × |${BASE_ROW}
| RSS with 100 idle VUs (1 keep-alive connection each) | ${BASE_RSS} KiB ($BASE_FDS fds) | | |
| RSS with $VUS idle VUs | ${BIG_RSS} KiB ($BIG_FDS fds, $BIG_REQS requests) | | |
| memory per idle VU | ${PER_VU} bytes | | target < 10240 |

MD
