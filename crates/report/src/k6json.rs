//! `json=PATH`: k6's `--out json` NDJSON stream, with one `Point` per
//! interval and series instead of one per sample. Appended and flushed every
//! interval; nothing of past intervals is kept but the names of the metrics
//! already declared.
//!
//! Lines are k6's: a `Metric` line the first time a metric appears
//! (`{"type":"Metric","data":{"name","type","contains","thresholds","submetrics"},"metric"}`),
//! then `Point` lines (`{"metric","type":"Point","data":{"time","value","tags"}}`)
//! with k6's tag names (`scenario`, `name`, `method`, `status`, `group`,
//! `expected_response`, `check`, custom tags). What a `value` means for an
//! aggregate of an interval, by metric type:
//!
//! - counter: the interval's sum (so summing `.data.value` gives the total,
//!   as it does over k6's per-sample points);
//! - trend: the interval's mean (ms for time trends), with `count`, `min`,
//!   `med`, `max`, `p(90)`, `p(95)`, `p(99)` beside it in `data`;
//! - rate: the interval's ratio of non-zero samples (0–1), with `count`,
//!   `passes` (non-zero samples) and `fails` beside it;
//! - gauge: the value at the end of the interval (custom gauges: the last
//!   value set, with `min` and `max`).
//!
//! Parsers that read k6's stream ignore the extra fields. Format and the jq
//! filters that keep their meaning: `docs/outputs.md`.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use stampede_metrics::custom::{SCALE, from_fixed};
use stampede_metrics::{MetricValue, RequestTrend, Snapshot, TrendStats};
use stampede_scenario::threshold::Metric;

use crate::outputs::{Output, RunContext};
use crate::summary::Summary;
use crate::text::iso8601_utc;

/// The writer behind `json=PATH`.
pub struct K6JsonOutput {
    out: BufWriter<File>,
    started_at_ms: u64,
    /// Metrics whose `Metric` line is written (k6 declares each once).
    declared: HashSet<String>,
}

impl K6JsonOutput {
    pub fn create(path: &Path, ctx: &RunContext) -> std::io::Result<K6JsonOutput> {
        Ok(K6JsonOutput {
            out: BufWriter::new(File::create(path)?),
            started_at_ms: ctx.started_at_ms,
            declared: HashSet::new(),
        })
    }
}

/// k6's metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

/// k6's value types (`contains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Contains {
    Default,
    Time,
    Data,
}

#[derive(Serialize)]
struct MetricLine<'a> {
    #[serde(rename = "type")]
    line: &'static str,
    data: MetricData<'a>,
    metric: &'a str,
}

#[derive(Serialize)]
struct MetricData<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: Kind,
    contains: Contains,
    /// Thresholds are not listed here (they are in `--summary-export`).
    thresholds: [&'a str; 0],
    submetrics: Option<()>,
}

#[derive(Serialize)]
struct PointLine<'a> {
    metric: &'a str,
    #[serde(rename = "type")]
    line: &'static str,
    data: PointData<'a>,
}

#[derive(Serialize)]
struct PointData<'a> {
    time: &'a str,
    #[serde(serialize_with = "whole")]
    value: f64,
    tags: &'a Tags,
    #[serde(flatten)]
    extra: Extra,
}

/// The aggregate beside `value` (absent fields are not written).
#[derive(Serialize, Default)]
struct Extra {
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    passes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fails: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    med: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(rename = "p(90)", skip_serializing_if = "Option::is_none")]
    p90: Option<f64>,
    #[serde(rename = "p(95)", skip_serializing_if = "Option::is_none")]
    p95: Option<f64>,
    #[serde(rename = "p(99)", skip_serializing_if = "Option::is_none")]
    p99: Option<f64>,
}

/// A whole number as an integer (`6`, as k6 writes a count, not `6.0`).
fn whole<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.0e15 { s.serialize_i64(*v as i64) } else { s.serialize_f64(*v) }
}

type Tags = BTreeMap<String, String>;

/// One aggregated point: its value and what goes beside it.
struct Sample {
    value: f64,
    extra: Extra,
}

impl Sample {
    fn counter(value: f64) -> Sample {
        Sample { value, extra: Extra::default() }
    }

    fn trend(t: &TrendStats) -> Sample {
        Sample {
            value: t.mean,
            extra: Extra {
                count: Some(t.count),
                min: Some(t.min),
                med: Some(t.p50),
                max: Some(t.max),
                p90: Some(t.p90),
                p95: Some(t.p95),
                p99: Some(t.p99),
                ..Extra::default()
            },
        }
    }

    fn rate(trues: u64, total: u64) -> Sample {
        Sample {
            value: trues as f64 / total.max(1) as f64,
            extra: Extra { count: Some(total), passes: Some(trues), fails: Some(total - trues), ..Extra::default() },
        }
    }
}

fn tags<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Tags {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Whether a built-in metric holds times (ms) or bytes.
fn contains_of(metric: &Metric) -> Contains {
    match metric {
        Metric::DataSent | Metric::DataReceived => Contains::Data,
        m if matches!(m.kind(), stampede_scenario::threshold::MetricKind::Trend) => Contains::Time,
        _ => Contains::Default,
    }
}

impl K6JsonOutput {
    fn point(
        &mut self,
        time: &str,
        metric: &str,
        kind: Kind,
        contains: Contains,
        tags: &Tags,
        s: Sample,
    ) -> std::io::Result<()> {
        if !self.declared.contains(metric) {
            let line = MetricLine {
                line: "Metric",
                data: MetricData { name: metric, kind, contains, thresholds: [], submetrics: None },
                metric,
            };
            serde_json::to_writer(&mut self.out, &line)?;
            self.out.write_all(b"\n")?;
            self.declared.insert(metric.to_string());
        }
        let line = PointLine { metric, line: "Point", data: PointData { time, value: s.value, tags, extra: s.extra } };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    fn builtin(&mut self, time: &str, metric: Metric, tags: &Tags, s: Sample) -> std::io::Result<()> {
        let kind = match metric.kind() {
            stampede_scenario::threshold::MetricKind::Counter => Kind::Counter,
            stampede_scenario::threshold::MetricKind::Gauge => Kind::Gauge,
            stampede_scenario::threshold::MetricKind::Rate => Kind::Rate,
            stampede_scenario::threshold::MetricKind::Trend => Kind::Trend,
        };
        self.point(time, metric.name(), kind, contains_of(&metric), tags, s)
    }
}

impl Output for K6JsonOutput {
    fn interval(&mut self, _start: Duration, end: Duration, snap: &Snapshot) -> std::io::Result<()> {
        let time = iso8601_utc(self.started_at_ms + end.as_millis() as u64);
        let time = time.as_str();

        for (k, r) in &snap.requests {
            if r.count() == 0 {
                continue;
            }
            let status = k.status.to_string();
            let mut t = tags([
                ("scenario", &*k.scenario),
                ("name", &*k.name),
                ("method", k.method.as_str()),
                ("status", status.as_str()),
                ("group", &*k.group),
            ]);
            // k6 tags each request; a series holds one verdict only when all
            // its requests share it.
            if r.failed() == 0 {
                t.insert("expected_response".into(), "true".into());
            } else if r.failed() == r.count() {
                t.insert("expected_response".into(), "false".into());
            }
            t.extend(k.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            self.builtin(time, Metric::HttpReqs, &t, Sample::counter(r.count() as f64))?;
            self.builtin(time, Metric::HttpReqFailed, &t, Sample::rate(r.failed(), r.count()))?;
            for trend in RequestTrend::ALL {
                self.builtin(time, trend.metric(), &t, Sample::trend(&TrendStats::of(&r[trend])))?;
            }
            if r.data_sent() > 0 {
                self.builtin(time, Metric::DataSent, &t, Sample::counter(r.data_sent() as f64))?;
            }
            if r.data_received() > 0 {
                self.builtin(time, Metric::DataReceived, &t, Sample::counter(r.data_received() as f64))?;
            }
        }

        for (k, c) in &snap.checks {
            if c.passes + c.fails == 0 {
                continue;
            }
            let mut t = tags([("scenario", &*k.scenario), ("group", &*k.group), ("check", &*k.check)]);
            t.extend(k.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            self.builtin(time, Metric::Checks, &t, Sample::rate(c.passes, c.passes + c.fails))?;
        }

        for (k, h) in &snap.groups {
            if h.is_empty() {
                continue;
            }
            let t = tags([("scenario", &*k.scenario), ("group", &*k.group)]);
            self.builtin(time, Metric::GroupDuration, &t, Sample::trend(&TrendStats::of(h)))?;
        }

        for (scenario, s) in &snap.scenarios {
            let t = tags([("scenario", &**scenario)]);
            if s.iterations > 0 {
                self.builtin(time, Metric::Iterations, &t, Sample::counter(s.iterations as f64))?;
            }
            if !s.iteration_duration.is_empty() {
                let stats = TrendStats::of(&s.iteration_duration);
                self.builtin(time, Metric::IterationDuration, &t, Sample::trend(&stats))?;
            }
            for (m, h) in [(Metric::IntendedLatency, &s.intended_latency), (Metric::SchedulingLag, &s.scheduling_lag)] {
                if !h.is_empty() {
                    self.builtin(time, m, &t, Sample::trend(&TrendStats::of(h)))?;
                }
            }
            if s.dropped_iterations > 0 {
                self.builtin(time, Metric::DroppedIterations, &t, Sample::counter(s.dropped_iterations as f64))?;
            }
        }

        // k6's VU gauges carry no tags.
        let none = Tags::new();
        self.builtin(time, Metric::Vus, &none, Sample::counter(snap.vus() as f64))?;
        self.builtin(time, Metric::VusMax, &none, Sample::counter(snap.vus_max() as f64))?;

        for (k, m) in &snap.metrics {
            let mut t = tags([("scenario", &*k.scenario), ("group", &*k.group)]);
            if !k.name.is_empty() {
                t.insert("name".into(), k.name.to_string());
            }
            t.extend(k.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let (kind, contains, sample) = match &m.value {
                MetricValue::Counter(0) => continue,
                MetricValue::Counter(sum) => (Kind::Counter, Contains::Default, Sample::counter(*sum as f64 / SCALE)),
                MetricValue::Gauge(None) => continue,
                MetricValue::Gauge(Some(g)) => {
                    let extra =
                        Extra { min: Some(from_fixed(g.min)), max: Some(from_fixed(g.max)), ..Extra::default() };
                    (Kind::Gauge, Contains::Default, Sample { value: from_fixed(g.last), extra })
                }
                MetricValue::Rate { total: 0, .. } => continue,
                MetricValue::Rate { trues, total } => (Kind::Rate, Contains::Default, Sample::rate(*trues, *total)),
                MetricValue::Trend { hist, .. } if hist.is_empty() => continue,
                MetricValue::Trend { hist, time: is_time, exact } => {
                    let contains = if *is_time { Contains::Time } else { Contains::Default };
                    (Kind::Trend, contains, Sample::trend(&TrendStats::of_exact(hist, Some(exact))))
                }
            };
            self.point(time, &k.metric, kind, contains, &t, sample)?;
        }
        self.out.flush()
    }

    fn finish(&mut self, _summary: &Summary) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}
