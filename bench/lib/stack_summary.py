"""One figure from a Stampede summary (`--out summary=`), for bench/stack.sh.

    python3 stack_summary.py RUN.json STEP FIELD
FIELD: p95 (ms, 1 decimal), count, rate (per second over the run, 1 decimal),
failed, or status:CODE. STEP `all` means every request (http_reqs)."""
import json
import sys

path, step, field = sys.argv[1:4]
with open(path) as f:
    s = json.load(f)
if step == "all":
    m = s["metrics"]
    r = {
        "count": m["http_reqs"]["count"],
        "rate": m["http_reqs"]["rate"],
        "failed": m.get("http_req_failed", {}).get("trues", 0),
        "duration": m["http_req_duration"],
        "statuses": {},
    }
else:
    found = [r for r in s["requests"] if r["name"] == step]
    if not found:
        sys.exit(f"stack_summary: no request named {step!r} in {path}")
    r = found[0]
if field == "p95":
    print(f"{r['duration']['p95']:.1f}")
elif field == "rate":
    print(f"{r['rate']:.1f}")
elif field.startswith("status:"):
    print(r["statuses"].get(field.split(":", 1)[1], 0))
else:
    print(r[field])
