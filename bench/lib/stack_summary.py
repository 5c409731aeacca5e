"""One figure from a Stampede summary (`--out summary=`), for bench/stack.sh.

    python3 stack_summary.py RUN.json STEP FIELD
FIELD: p95 (ms, 1 decimal), count, rate (per second over the run, 1 decimal),
failed, or status:CODE. STEP `all` means every request (http_reqs); STEP
`check` with FIELD NAME gives that check's pass rate in % (1 decimal); STEP
`metric` with FIELD NAME a custom counter's count."""
import json
import sys

path, step, field = sys.argv[1:4]
with open(path) as f:
    s = json.load(f)
if step == "check":
    found = [c for c in s["checks"] if c["name"] == field]
    if not found:
        sys.exit(f"stack_summary: no check named {field!r} in {path}")
    passes = sum(c["passes"] for c in found)
    total = passes + sum(c["fails"] for c in found)
    print(f"{100 * passes / max(total, 1):.1f}")
    sys.exit(0)
if step == "metric":
    print(s.get("custom_metrics", {}).get(field, {}).get("count", 0))
    sys.exit(0)
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
