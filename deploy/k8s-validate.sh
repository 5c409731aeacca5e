#!/usr/bin/env bash
# Checks Stampede's Kubernetes files without a cluster:
#   1. `helm lint --strict` of deploy/helm/stampede;
#   2. the chart rendered with its default values (release `stampede`) is,
#      object by object, what deploy/k8s/*.yaml holds;
#   3. every document of deploy/k8s/*.yaml, and of the chart rendered with
#      its defaults and with two sets of other values (TLS, a created token
#      and claim, no shop; your own ConfigMap content, an existing claim,
#      placement), is valid against the official schemas of Kubernetes
#      $K8S_VERSION with kubernetes-validate --strict (unknown fields are errors).
# Prints the version and the number of documents validated; exits non-zero
# on any failure.
#
#   bash deploy/k8s-validate.sh
#
# The Helm CLI has no Debian package (bookworm) and Debian's Go (1.19) is too
# old to build it, so lint and render use Helm's own engine as a library: the
# PyPI package helm-python-sdk (Helm's Go SDK, v4, behind a C ABI; what
# `helm lint` and `helm template` run). Schema validation is structural: it
# does not know rules that only the API server checks (e.g. that
# backoffLimitPerIndex needs an Indexed Job).
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest Kubernetes whose schemas kubernetes-validate 1.37.0 ships.
K8S_VERSION=1.37.0
KUBERNETES_VALIDATE=1.37.0
HELM_SDK=0.2.2

installed() {
  python3 -c 'import importlib.metadata as m, sys; sys.exit(m.version(sys.argv[1]) != sys.argv[2])' "$1" "$2" 2>/dev/null
}
need=()
installed kubernetes-validate "$KUBERNETES_VALIDATE" || need+=("kubernetes-validate==$KUBERNETES_VALIDATE")
installed helm-python-sdk "$HELM_SDK" || need+=("helm-python-sdk==$HELM_SDK")
if [ ${#need[@]} -gt 0 ]; then
  python3 -m pip install -q --disable-pip-version-check "${need[@]}"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Lint, render, compare: writes the rendered documents to $work/chart-*.yaml
# and the document counts to $work/counts.
chart_status=0
python3 - "$work" "$K8S_VERSION" <<'PY' || chart_status=$?
import difflib, glob, os, sys
import yaml
import helm_python as helm

work, k8s_version = sys.argv[1], sys.argv[2]
chart = "deploy/helm/stampede"
failed = False

lint = helm.lint(chart, strict=True, kube_version="v" + k8s_version)
problems = [m for m in lint["messages"] if m["severity"] >= 2] + [{"error": e} for e in lint["errors"]]
for p in problems:
    print(f"helm lint: {p.get('path', chart)}: {p['error']}")
if problems:
    failed = True
else:
    print(f"helm lint --strict {chart}: ok (Helm SDK {helm.helm_sdk_version()}, Kubernetes {k8s_version})")

VALUE_SETS = {
    "defaults": {},
    "tls-token-claim-no-shop": {
        "tls": {"enabled": True, "secretName": "stampede-tls"},
        "token": {"value": "not-a-real-token"},
        "results": {"persistentVolumeClaim": {"create": True, "storageClassName": "standard"}},
        "shop": {"enabled": False},
        "target": "https://shop.example.com",
        "agents": {"count": 10, "maxVus": 500, "allowTargets": ["shop.example.com"], "extraArgs": ["--quiet"]},
        "coordinator": {"onAgentLoss": "abort", "outputs": ["summary=/results/summary.json", "html=/results/report.html"]},
        "ttlSecondsAfterFinished": 0,
        "activeDeadlineSeconds": None,
    },
    "own-scenario-existing-claim-placement": {
        "image": {"tag": "0.2.0"},
        "imagePullSecrets": [{"name": "regcred"}],
        "scenario": {"toml": "[target]\nbase_url = \"http://stampede-shop:8081\"\n", "data": {"users.csv": "id,name\n1,a\n"}},
        "results": {"persistentVolumeClaim": {"claimName": "load-results"}},
        "coordinator": {"extraArgs": ["--seed=42"], "nodeSelector": {"pool": "load"},
                        "tolerations": [{"key": "load", "operator": "Exists", "effect": "NoSchedule"}]},
        "agents": {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                               "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "agent"}}}}]}}},
        "shop": {"extraArgs": ["--no-indexes"]},
    },
}

def documents(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]

rendered = {}
with helm.Chart.load(chart) as c:
    for name, values in VALUE_SETS.items():
        try:
            out = c.render(values, name="stampede", namespace="stampede", is_install=True)
        except helm.HelmError as e:
            print(f"helm template ({name}): {e}")
            failed = True
            continue
        text = "\n---\n".join(out[k] for k in sorted(out) if k.endswith(".yaml"))
        with open(os.path.join(work, f"chart-{name}.yaml"), "w") as f:
            f.write(text)
        rendered[name] = documents(text)

def key(d):
    return (d.get("kind"), d.get("metadata", {}).get("name"))

def dump(d):
    return yaml.safe_dump(d, sort_keys=True, width=1000).splitlines()

if "defaults" in rendered:
    plain = {}
    for path in sorted(glob.glob("deploy/k8s/*.yaml")):
        with open(path) as f:
            for d in documents(f.read()):
                plain[key(d)] = (path, d)
    chart_docs = {key(d): d for d in rendered["defaults"]}
    diffs = []
    for k in sorted(set(plain) | set(chart_docs), key=str):
        if k not in plain:
            diffs.append(f"{k[0]}/{k[1]}: rendered by the chart, missing from deploy/k8s/")
        elif k not in chart_docs:
            diffs.append(f"{k[0]}/{k[1]} ({plain[k][0]}): not rendered by the chart")
        elif plain[k][1] != chart_docs[k]:
            diff = difflib.unified_diff(dump(chart_docs[k]), dump(plain[k][1]), "chart", plain[k][0], lineterm="")
            diffs.append(f"{k[0]}/{k[1]} differs:\n" + "\n".join(diff))
    if diffs:
        failed = True
        print("deploy/k8s/ is not what the chart renders with its defaults:")
        print("\n".join(diffs))
    else:
        print(f"deploy/k8s/*.yaml = the chart rendered with its defaults: {len(plain)} objects, equal")

plain_count = 0
for path in glob.glob("deploy/k8s/*.yaml"):
    with open(path) as f:
        plain_count += len(documents(f.read()))
with open(os.path.join(work, "counts"), "w") as f:
    f.write(f"{plain_count + sum(len(v) for v in rendered.values())} {plain_count} {len(rendered)}\n")
sys.exit(1 if failed else 0)
PY

# Every document against the schemas of one Kubernetes version.
shopt -s nullglob
files=(deploy/k8s/*.yaml "$work"/chart-*.yaml)
status=0
kubernetes-validate --kubernetes-version "$K8S_VERSION" --strict "${files[@]}" >"$work/report" 2>&1 || status=$?
grep -v ' passed for resource ' "$work/report" || true
passed="$(grep -c ' passed for resource ' "$work/report" || true)"
read -r expected plain sets <"$work/counts" || { echo "deploy/k8s-validate.sh: the chart step counted no documents" >&2; exit 1; }
if [ "$status" -ne 0 ] || [ "$passed" -ne "$expected" ]; then
  echo "kubernetes-validate --strict, Kubernetes $K8S_VERSION: FAILED ($passed of $expected documents valid)" >&2
  exit 1
fi
echo "kubernetes-validate $KUBERNETES_VALIDATE --strict, Kubernetes $K8S_VERSION: $passed documents valid" \
  "($plain in deploy/k8s/, $((passed - plain)) rendered from the chart with $sets sets of values)"
[ "$chart_status" -eq 0 ] || { echo "deploy/k8s-validate.sh: the chart check failed (above)" >&2; exit 1; }
