#!/bin/sh
# Runs inside a network namespace of its own (`unshare -n`), so its loopback,
# its ephemeral port range and its load are the test's alone:
#   netns.sh STAMPEDE SCENARIO OUTDIR NOFILE PORTS
# starts the bundled shop (its edge on 127.0.0.1:18080), then `stampede run`
# with the open-files limit NOFILE (prlimit), the ephemeral port range PORTS
# ("50000 50499"), and while every VU holds its connection, the shop side's
# established connections per peer address (ss) into OUTDIR/sources.txt.
set -eu
STAMPEDE=$1 SCENARIO=$2 OUT=$3 NOFILE=$4 PORTS=$5
ip link set lo up
sysctl -qw net.ipv4.ip_local_port_range="$PORTS"
"$STAMPEDE" shop --products 500 --edge-listen 127.0.0.1:18080 --origin-listen 127.0.0.1:18081 \
  >"$OUT/shop.log" 2>&1 &
SHOP=$!
trap 'kill $SHOP 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  ss -Hltn '( sport = :18080 )' | grep -q . && break
  sleep 0.1
done
(
  prlimit --nofile="$NOFILE:$NOFILE" "$STAMPEDE" run "$SCENARIO" --target http://127.0.0.1:18080 \
    --headless --out "summary=$OUT/summary.json" >"$OUT/run.out" 2>"$OUT/run.err"
  echo $? >"$OUT/run.code"
) &
RUN=$!
# Sample the shop's connections once the VUs have all started (the run lasts 14 s).
sleep 9
ss -Htn state established '( sport = :18080 )' | awk '{print $4}' | sed 's/:[0-9]*$//' | sort | uniq -c >"$OUT/sources.txt"
wait $RUN
