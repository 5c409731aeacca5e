#!/usr/bin/env bash
# The coordinator at scale (issue 21), on this machine:
#  1. a real run's per-name latency histograms recorded (scenarios/smoke.toml against the bundled
#     shop, --out hlog), to replay as realistic agent snapshots;
#  2. the merge benchmark (examples/merge_bench.rs) at 16 agents × 200 series and 100 × 500, synthetic
#     (a wide 0.2 ms – 2 s spread, the hard case) and recorded, each beside the previous coordinator's
#     agent-by-agent merge in the same run;
#  3. simulated agents (examples/sim_agents.rs) over real gRPC to a real `stampede coordinator`:
#     200 agents for 120 s and 1,000 agents for 30 s; the coordinator's CPU, peak RSS, start skew and
#     how late intervals went out (its own end-of-run line).
#
#   bench/coordinator.sh        # ~8 min; writes bench/results/coordinator.md (raw files in bench/out/coordinator)
# Loopback only; the simulated agents send no load, and every part ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
RAW=bench/out/coordinator
# PARTS="merge" (or "sim", "merge sim"): run only those, reusing the other parts' raw files.
PARTS=${PARTS:-record merge sim}
part() { [[ " $PARTS " == *" $1 "* ]]; }
if part record; then rm -rf "$RAW"; fi
mkdir -p "$RAW"
cargo build --release -q -p stampede -p stampede-coordinator --examples
T=${CARGO_TARGET_DIR:-target}/release
BIN=$T/stampede
ulimit -n "$(ulimit -Hn)"

part record && "$BIN" run scenarios/smoke.toml --headless --out hlog="$RAW/recorded.hlog" >"$RAW/recorded.txt" 2>&1
names=$(grep -o '^Tag=http_req_duration\.[^,]*' "$RAW/recorded.hlog" | sort -u | wc -l)

part merge && {
  echo "# The coordinator at scale"
  echo
  echo "$("$BIN" --version | head -1), $(date -u +%Y-%m-%d), $(nproc) cores. \`bench/coordinator.sh\`."
  echo
  echo "## Merge per 1 s interval (\`examples/merge_bench.rs\`, median of 15 rounds)"
  echo
  echo "Recorded: \`scenarios/smoke.toml\` against the bundled shop, \`--out hlog\`: $names request names'"
  echo "per-interval histograms, replayed as each series' waiting time (series i replays name i mod $names)."
  echo
  for src in synthetic recorded; do
    for shape in "16 50 400" "100 125 40"; do
      set -- $shape
      echo "### $1 agents × $(($2 * 4)) series, $src"
      echo
      if [ "$src" = recorded ]; then
        RECORDED="$RAW/recorded.hlog" AGENTS=$1 NAMES=$2 "$T/examples/merge_bench"
      else
        AGENTS=$1 NAMES=$2 SAMPLES=$3 "$T/examples/merge_bench"
      fi
      echo
    done
  done
} >"$RAW/merge.md"

cat >"$RAW/sim.toml" <<'EOF'
# What the simulated agents are assigned (they send no load: loopback discard port, never dialled).
[target]
base_url = "http://127.0.0.1:9"

[[flows.idle.steps]]
name = "idle"
url = "/"

[scenarios.idle]
flow = "idle"
executor = "constant-vus"
vus = 1000
duration = "10m"
EOF

sim() { # agents seconds
  local port=$((7700 + $1 % 97))
  "$BIN" coordinator "$RAW/sim.toml" --agents "$1" --listen "127.0.0.1:$port" --headless --agent-timeout 120s \
    >"$RAW/coordinator-$1.out" 2>"$RAW/coordinator-$1.err" &
  local pid=$!
  sleep 1
  URL="http://127.0.0.1:$port" AGENTS=$1 SECONDS=$2 NAMES=25 SAMPLES=20 COORDINATOR_PID=$pid \
    RECORDED="$RAW/recorded.hlog" "$T/examples/sim_agents" >"$RAW/sim-$1.txt" 2>&1 || true
  wait "$pid" || echo "coordinator exit $?" >>"$RAW/sim-$1.txt"
}
if part sim; then
  sim 200 120
  sim 1000 30
fi

{
  cat "$RAW/merge.md"
  echo "## Simulated agents over gRPC to \`stampede coordinator\` (\`examples/sim_agents.rs\`, recorded snapshots)"
  echo
  for n in 200 1000; do
    echo "### $n agents"
    echo
    echo '```text'
    cat "$RAW/sim-$n.txt"
    grep -E '^coordinator: (start skew|agent .* lost)' "$RAW/coordinator-$n.err" || true
    echo '```'
    echo
  done
} | tee bench/results/coordinator.md
