#!/usr/bin/env bash
# UI cost: the same closed-loop run (50 VUs, 15 s, in-process, pinned to core 0)
# headless and with the live UI under tmux; CPU per request and their ratio.
# Loopback only (the bundled shop). Needs tmux. Not run in CI.
set -u
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/stampede
cargo build -q --release -p stampede
$BIN shop --products 20000 > /tmp/uishop.out 2>/dev/null &
SHOP=$!
sleep 3
EDGE=$(grep edge /tmp/uishop.out | cut -d' ' -f2)
cat > /tmp/ui2.toml <<TOML
[target]
base_url = "$EDGE"
[[flows.f.steps]]
url = "/api/products/{{ random_int(1, 500) }}"
[scenarios.s]
executor = "constant-vus"
vus = 50
duration = "15s"
flow = "f"
TOML
for r in 1 2 3; do
  /usr/bin/time -f "%U %S" -o /tmp/h.time taskset -c 0 $BIN run /tmp/ui2.toml --agents 0 --workers 1 --headless -q --out json=/tmp/h.json > /dev/null 2>&1
  tmux -L uib new-session -d -x 120 -y 40 "/usr/bin/time -f '%U %S' -o /tmp/u.time taskset -c 0 $BIN run /tmp/ui2.toml --agents 0 --workers 1 --out json=/tmp/u.json; sleep 1"
  while tmux -L uib has-session 2>/dev/null; do sleep 1; done
  python3 - <<'PY'
import json
def f(t,j):
    a=open(t).read().split(); n=json.load(open(j))['metrics']['http_reqs']['count']; return (float(a[0])+float(a[1]))/n*1e6, n
h=f('/tmp/h.time','/tmp/h.json'); u=f('/tmp/u.time','/tmp/u.json')
print(f"headless {h[0]:.2f} us/req ({h[1]} req), ui {u[0]:.2f} us/req ({u[1]} req), ratio {u[0]/h[0]:.3f}")
PY
done
kill $SHOP
