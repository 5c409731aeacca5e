//! `--summary-export=PATH`: the end-of-test summary in the shape k6's
//! `--summary-export` writes, for scripts and dashboards that read k6's file.
//!
//! Two keys, as in k6: `root_group` (`name`, `path`, `id`, `groups` and
//! `checks`, both objects keyed by name, groups nested as the checks were
//! recorded) and `metrics`, keyed by metric name, each a flat object by k6
//! type: trends `avg`, `min`, `med`, `max`, `p(90)`, `p(95)` (ms for times);
//! counters `count`, `rate` (per second); rates `passes` (non-zero samples:
//! for `http_req_failed`, the failed requests), `fails` (zero samples) and
//! `value` (the ratio); gauges `value`, `min`, `max`. A metric with
//! thresholds has `thresholds: {"EXPRESSION": FAILED}` (`false` means it
//! held). A threshold on a sub-metric (`http_req_duration{name:home}`) gets
//! its own key, with the statistics when the summary has them (a request
//! name's `http_req_duration`/`http_req_waiting`) and its thresholds.
//! Written as k6 writes it, indented by four spaces. Mapping:
//! `docs/outputs.md`.
//!
//! What Stampede's summary is: `--out summary=PATH` ([`crate::summary`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use stampede_metrics::{Snapshot, TrendStats};

use crate::outputs::{Output, RunContext, touch};
use crate::summary::{CustomValue, MetricSummary, Summary};

/// k6's default `summaryTrendStats`.
const TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

/// Check counts by group path (`""`, `::checkout`) and check name.
pub type GroupedChecks = BTreeMap<(String, String), (u64, u64)>;

/// The writer behind `--summary-export=PATH`: counts checks by group while
/// the run goes on (the summary merges groups), writes at the end.
pub struct SummaryExportOutput {
    path: PathBuf,
    checks: GroupedChecks,
}

impl SummaryExportOutput {
    pub fn create(path: &Path, _ctx: &RunContext) -> std::io::Result<SummaryExportOutput> {
        touch(path)?;
        Ok(SummaryExportOutput { path: path.to_path_buf(), checks: BTreeMap::new() })
    }
}

impl Output for SummaryExportOutput {
    fn interval(&mut self, _start: Duration, _end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        for (k, c) in &snapshot.checks {
            let e = self.checks.entry((k.group.to_string(), k.check.to_string())).or_default();
            e.0 += c.passes;
            e.1 += c.fails;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        std::fs::write(&self.path, render(summary, Some(&self.checks)))
    }
}

fn trend(t: &TrendStats) -> Map<String, Value> {
    TREND_STATS
        .iter()
        .zip([t.mean, t.min, t.p50, t.max, t.p90, t.p95])
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

fn rate(trues: u64, total: u64, value: Option<f64>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("passes".into(), json!(trues));
    m.insert("fails".into(), json!(total - trues));
    m.insert("value".into(), json!(value.unwrap_or(0.0)));
    m
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A k6 group: `name`, `path`, `id` (md5 of the path, as k6), `groups`, `checks`.
#[derive(Default)]
struct Group {
    groups: BTreeMap<String, Group>,
    checks: BTreeMap<String, (u64, u64)>,
}

impl Group {
    fn insert(&mut self, path: &[&str], check: &str, counts: (u64, u64)) {
        match path.split_first() {
            None => {
                let e = self.checks.entry(check.to_string()).or_default();
                e.0 += counts.0;
                e.1 += counts.1;
            }
            Some((first, rest)) => self.groups.entry(first.to_string()).or_default().insert(rest, check, counts),
        }
    }

    fn to_json(&self, name: &str, path: &str) -> Value {
        let groups: Map<String, Value> =
            self.groups.iter().map(|(n, g)| (n.clone(), g.to_json(n, &format!("{path}::{n}")))).collect();
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|(n, (passes, fails))| {
                let p = format!("{path}::{n}");
                (n.clone(), json!({ "name": n, "path": p, "id": md5_hex(&p), "passes": passes, "fails": fails }))
            })
            .collect();
        json!({ "name": name, "path": path, "id": md5_hex(path), "groups": groups, "checks": checks })
    }
}

/// The root group: the checks as recorded by group when `grouped` agrees
/// with the summary's counts, else the summary's checks (groups merged) at
/// the root.
fn root_group(summary: &Summary, grouped: Option<&GroupedChecks>) -> Value {
    let mut by_name: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in &summary.checks {
        let e = by_name.entry(&c.name).or_default();
        e.0 += c.passes;
        e.1 += c.fails;
    }
    let mut root = Group::default();
    let agrees = grouped.is_some_and(|g| {
        let mut sums: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for ((_, name), (p, f)) in g {
            let e = sums.entry(name).or_default();
            e.0 += p;
            e.1 += f;
        }
        sums == by_name
    });
    match grouped {
        Some(g) if agrees => {
            for ((group, name), counts) in g {
                let path: Vec<&str> = group.split("::").filter(|s| !s.is_empty()).collect();
                root.insert(&path, name, *counts);
            }
        }
        _ => {
            for (name, counts) in by_name {
                root.insert(&[], name, counts);
            }
        }
    }
    root.to_json("", "")
}

/// The document k6's `--summary-export` writes, from a run's summary;
/// `grouped`: its checks by group (without it, every check is at the root).
pub fn render(summary: &Summary, grouped: Option<&GroupedChecks>) -> String {
    let mut metrics: Map<String, Value> = Map::new();
    for (name, m) in &summary.metrics {
        let values = match m {
            // k6 has no metric without a sample.
            MetricSummary::Counter { count: 0, .. } => continue,
            MetricSummary::Trend { stats, .. } if stats.count == 0 => continue,
            MetricSummary::Trend { stats, .. } => trend(stats),
            MetricSummary::Rate { rate: r, trues, total } => rate(*trues, *total, Some(*r)),
            MetricSummary::Counter { count, rate: r } => {
                json!({ "count": count, "rate": r }).as_object().cloned().unwrap_or_default()
            }
            // The lowest VU count is not recorded; a run starts from 0 VUs.
            MetricSummary::Gauge { value, max } => {
                json!({ "value": value, "min": 0, "max": max }).as_object().cloned().unwrap_or_default()
            }
        };
        metrics.insert(name.clone(), Value::Object(values));
    }
    for (name, m) in &summary.custom_metrics {
        let values = match &m.value {
            CustomValue::Counter { count, rate: r } => {
                json!({ "count": count, "rate": r }).as_object().cloned().unwrap_or_default()
            }
            CustomValue::Gauge { value: None, .. } => continue,
            CustomValue::Gauge { value, min, max } => {
                json!({ "value": value, "min": min, "max": max }).as_object().cloned().unwrap_or_default()
            }
            CustomValue::Rate { total: 0, .. } => continue,
            CustomValue::Rate { rate: r, trues, total } => rate(*trues, *total, *r),
            CustomValue::Trend { stats, .. } if stats.count == 0 => continue,
            CustomValue::Trend { stats, .. } => trend(stats),
        };
        metrics.insert(name.clone(), Value::Object(values));
    }
    for t in &summary.thresholds {
        let key = t.metric.to_string();
        if !metrics.contains_key(&key) {
            metrics.insert(key.clone(), Value::Object(submetric_values(summary, &key)));
        }
        if let Some(Value::Object(m)) = metrics.get_mut(&key) {
            let th = m.entry("thresholds").or_insert_with(|| json!({}));
            if let Value::Object(th) = th {
                // k6's odd polarity: `true` means the threshold failed.
                th.insert(t.threshold.to_string(), json!(!t.passed));
            }
        }
    }
    let mut doc = json!({ "root_group": root_group(summary, grouped), "metrics": metrics });
    integers(&mut doc);
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    serde::Serialize::serialize(&doc, &mut ser).expect("a JSON value serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Statistics of a sub-metric the summary keeps: `http_req_duration` and
/// `http_req_waiting` of one request name (`{name:NAME}`); empty otherwise.
fn submetric_values(summary: &Summary, selector: &str) -> Map<String, Value> {
    let Some((metric, rest)) = selector.split_once('{') else { return Map::new() };
    let Some(name) = rest.strip_suffix('}').and_then(|t| t.strip_prefix("name:")) else { return Map::new() };
    let name = name.trim().trim_matches(['"', '\'']);
    let Some(r) = summary.requests.iter().find(|r| r.name == name) else { return Map::new() };
    match metric.trim() {
        "http_req_duration" if r.duration.count > 0 => trend(&r.duration),
        "http_req_waiting" if r.waiting.count > 0 => trend(&r.waiting),
        _ => Map::new(),
    }
}

/// Whole numbers as integers (`60`, not `60.0`), as JavaScript's
/// `JSON.stringify` writes every number k6 exports.
fn integers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15 && !n.is_i64() && !n.is_u64()) {
                *v = json!(f as i64);
            }
        }
        Value::Object(m) => m.values_mut().for_each(integers),
        Value::Array(a) => a.iter_mut().for_each(integers),
        _ => {}
    }
}
