#!/usr/bin/env bash
# `--out prometheus-rw`: its cost to a run, and the cost of a receiver away
# for 10 s, against a real Prometheus (Debian `prometheus`) and the bundled
# shop, all on 127.0.0.1. See bench/lib/remote_write.py for the variants.
#
#   bench/remote-write.sh                       # 3 rounds of 30 s runs at 400/s
#   ROUNDS=5 RATE=800 DURATION=60 bench/remote-write.sh
# Not run in CI (crates/cli/tests/remote_write.rs checks the behaviour there).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }
cargo build --release -q -p stampede
exec python3 bench/lib/remote_write.py "${CARGO_TARGET_DIR:-target}/release/stampede"
