//! The JSON report as data: an owned, deserializable mirror of the
//! `stampede.summary/v1` document (`docs/json-summary.md`).
//!
//! The HTML and JUnit renderers work from a [`Report`] only, whether it was
//! just built from a run's [`Summary`] or read back from a saved JSON file, so
//! `stampede report RUN.json --html …` renders exactly what the run would
//! have. Unknown fields are ignored and missing optional ones default, so a
//! newer file still renders.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use stampede_metrics::live::{AgentInfo, Point};

use crate::summary::Summary;

/// Largest JSON summary `stampede report` reads (a day-long run at one point
/// per second is a few tens of MiB).
pub const MAX_SUMMARY_BYTES: u64 = 256 * 1024 * 1024;

/// The prefix every version of the schema shares.
pub const SCHEMA_FAMILY: &str = "stampede.summary/";

/// A trend's statistics in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDoc {
    pub scenario_file: String,
    pub started_at_ms: u64,
    pub duration_s: f64,
    pub planned_duration_s: f64,
    pub outcome: String,
    pub exit_code: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetricDoc {
    Trend {
        #[serde(flatten)]
        stats: Trend,
        rate: f64,
    },
    Rate {
        rate: f64,
        trues: u64,
        total: u64,
    },
    Counter {
        count: u64,
        rate: f64,
    },
    Gauge {
        value: u64,
        max: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesDoc {
    pub metric: String,
    pub tags: BTreeMap<String, String>,
    #[serde(flatten)]
    pub stats: Trend,
    pub rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CdnDoc {
    pub hits: u64,
    pub misses: u64,
    pub unknown: u64,
    pub hit_ratio: Option<f64>,
    pub hit_ratio_bytes: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentileDoc {
    pub p: f64,
    pub ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestDoc {
    pub name: String,
    pub count: u64,
    pub rate: f64,
    pub failed: u64,
    pub error_rate: f64,
    pub duration: Trend,
    #[serde(default)]
    pub duration_percentiles: Vec<PercentileDoc>,
    pub waiting: Trend,
    #[serde(default)]
    pub statuses: BTreeMap<String, u64>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub cdn: CdnDoc,
    pub data_sent: u64,
    pub data_received: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDoc {
    pub scenario: String,
    pub name: String,
    pub passes: u64,
    pub fails: u64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdDoc {
    pub metric: String,
    pub threshold: String,
    pub passed: bool,
    pub observed: Option<f64>,
    #[serde(default)]
    pub abort_on_fail: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioDoc {
    pub name: String,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub interrupted_iterations: u64,
    pub iteration_duration: Trend,
    pub intended_latency: Option<Trend>,
    pub scheduling_lag: Option<Trend>,
    pub vus_max: u64,
}

/// One interval of the over-time series (a [`Point`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntervalDoc {
    /// End of the interval, seconds from the run start.
    pub t: f64,
    pub rps: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub vus: u64,
    pub cdn_hit_ratio: Option<f64>,
    pub data_in_per_s: f64,
    pub data_out_per_s: f64,
    pub iterations_per_s: f64,
}

impl From<&Point> for IntervalDoc {
    fn from(p: &Point) -> IntervalDoc {
        IntervalDoc {
            t: p.t.as_secs_f64(),
            rps: p.rps,
            error_rate: p.error_rate,
            p50_ms: p.p50_ms,
            p95_ms: p.p95_ms,
            p99_ms: p.p99_ms,
            vus: p.vus,
            cdn_hit_ratio: p.cdn_hit_ratio,
            data_in_per_s: p.data_in_per_s,
            data_out_per_s: p.data_out_per_s,
            iterations_per_s: p.iterations_per_s,
        }
    }
}

/// A load generator as the end of the run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDoc {
    pub name: String,
    pub address: String,
    pub state: String,
    pub vus: u64,
    pub rps: f64,
    pub requests: u64,
    pub lag_p99_ms: Option<f64>,
    pub cpu_percent: Option<f64>,
}

impl From<&AgentInfo> for AgentDoc {
    fn from(a: &AgentInfo) -> AgentDoc {
        AgentDoc {
            name: a.name.clone(),
            address: a.address.clone(),
            state: a.state.as_str().to_string(),
            vus: a.vus,
            rps: a.rps,
            requests: a.requests,
            lag_p99_ms: a.lag_p99_ms,
            cpu_percent: a.cpu_percent,
        }
    }
}

/// The whole JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub run: RunDoc,
    pub metrics: BTreeMap<String, MetricDoc>,
    #[serde(default)]
    pub series: Vec<SeriesDoc>,
    #[serde(default)]
    pub requests: Vec<RequestDoc>,
    #[serde(default)]
    pub checks: Vec<CheckDoc>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdDoc>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub scenarios: Vec<ScenarioDoc>,
    /// One entry per interval, oldest first.
    #[serde(default)]
    pub intervals: Vec<IntervalDoc>,
    /// Load generators; empty when none was reported.
    #[serde(default)]
    pub agents: Vec<AgentDoc>,
}

impl Report {
    /// The document a run writes: its summary, its interval points and agents.
    pub fn new(summary: &Summary, points: &[Point], agents: &[AgentDoc]) -> Report {
        let v = serde_json::to_value(summary).expect("summary serializes");
        let mut r: Report = serde_json::from_value(v).expect("the summary matches its own schema");
        r.intervals = points.iter().map(IntervalDoc::from).collect();
        r.agents = agents.to_vec();
        r
    }

    /// Reads a JSON summary written by `--out json=PATH` (at most [`MAX_SUMMARY_BYTES`],
    /// checked while reading: the path comes from the user and may be endless).
    pub fn load(path: &Path) -> std::io::Result<Report> {
        use stampede_scenario::input::{ReadError, read_bounded};
        let bytes = read_bounded(path, MAX_SUMMARY_BYTES, "JSON summary").map_err(|e| match e {
            ReadError::Io { source, .. } => std::io::Error::new(source.kind(), format!("{}: {source}", path.display())),
            too_large => std::io::Error::new(std::io::ErrorKind::InvalidData, too_large.to_string()),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: not UTF-8 text", path.display()))
        })?;
        Report::parse(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    /// Parses a JSON summary; says what is wrong when it is not one.
    pub fn parse(text: &str) -> Result<Report, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(s) if s.starts_with(SCHEMA_FAMILY) => {}
            Some(s) => return Err(format!("schema `{s}` is not a Stampede summary (expected {SCHEMA_FAMILY}v1)")),
            None => {
                return Err(format!(
                    "no `schema` field: not a Stampede JSON summary (expected {SCHEMA_FAMILY}v1, written by --out json=PATH)"
                ));
            }
        }
        serde_json::from_value(v).map_err(|e| format!("not a valid {SCHEMA_FAMILY}v1 document: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    pub fn metric(&self, name: &str) -> Option<&MetricDoc> {
        self.metrics.get(name)
    }
}
