//! The end-of-test summary: one serde structure that the text summary and
//! the JSON file are both made from, so they never disagree.

use std::collections::BTreeMap;

use serde::Serialize;
use stampede_metrics::hist::us_to_ms;
use stampede_metrics::snapshot::Value;
use stampede_metrics::{ErrorKind, Histogram, RequestStats, Snapshot, ThresholdOutcome, TrendStats};
use stampede_scenario::threshold::{Metric, MetricKind};

/// Version of the JSON summary schema (`docs/json-summary.md`).
pub const SCHEMA: &str = "stampede.summary/v1";

/// Facts about the run that are not measurements.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub scenario_file: String,
    /// Unix time of the start, in milliseconds.
    pub started_at_ms: u64,
    /// Wall time from start to the last measurement.
    pub duration_s: f64,
    /// Planned length (graceful stops excluded).
    pub planned_duration_s: f64,
    /// How the run ended: `completed`, `interrupted` (Ctrl-C / stop),
    /// `aborted_by_threshold`, `aborted`.
    pub outcome: String,
    /// The process exit code this summary leads to.
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetricSummary {
    Trend {
        #[serde(flatten)]
        stats: TrendStats,
        /// Samples per second over the run.
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

/// One raw series (metric + tags) of a trend.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSummary {
    pub metric: &'static str,
    pub tags: BTreeMap<&'static str, String>,
    #[serde(flatten)]
    pub stats: TrendStats,
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CdnSummary {
    pub hits: u64,
    pub misses: u64,
    pub unknown: u64,
    /// Hits among responses classified hit or miss; `null` when none was.
    pub hit_ratio: Option<f64>,
    /// The same, weighted by response body bytes.
    pub hit_ratio_bytes: Option<f64>,
}

impl CdnSummary {
    fn of(r: &RequestStats) -> CdnSummary {
        let den = r.cdn_hits + r.cdn_misses;
        let bytes = r.cdn_hit_bytes + r.cdn_miss_bytes;
        CdnSummary {
            hits: r.cdn_hits,
            misses: r.cdn_misses,
            unknown: r.cdn_unknown,
            hit_ratio: (den > 0).then(|| r.cdn_hits as f64 / den as f64),
            hit_ratio_bytes: (bytes > 0).then(|| r.cdn_hit_bytes as f64 / bytes as f64),
        }
    }
}

/// One point of a latency-by-percentile curve.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PercentilePoint {
    /// Percentile, 0–100.
    pub p: f64,
    pub ms: f64,
}

/// Percentiles of the distribution curve: four per decade of `1/(1-q)`, from
/// the minimum to p99.999 (HdrHistogram's classic percentile plot).
pub const PERCENTILES: [f64; 21] = [
    0.0, 25.0, 50.0, 75.0, 90.0, 92.5, 95.0, 97.5, 99.0, 99.25, 99.5, 99.75, 99.9, 99.925, 99.95, 99.975, 99.99,
    99.9925, 99.995, 99.9975, 99.999,
];

/// The latency-by-percentile curve of a histogram in µs, ending with the max.
pub fn percentile_curve(h: &Histogram) -> Vec<PercentilePoint> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<PercentilePoint> = PERCENTILES
        .iter()
        .map(|&p| PercentilePoint { p, ms: us_to_ms(h.value_at_quantile(p / 100.0) as f64) })
        .collect();
    out.push(PercentilePoint { p: 100.0, ms: us_to_ms(h.max() as f64) });
    out
}

/// Per request name, every scenario, method and status merged.
#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    pub name: String,
    pub count: u64,
    pub rate: f64,
    pub failed: u64,
    pub error_rate: f64,
    pub duration: TrendStats,
    /// `http_req_duration` by percentile, read off the merged HDR histogram
    /// ([`PERCENTILES`], then 100 = max): what the HTML report plots.
    pub duration_percentiles: Vec<PercentilePoint>,
    pub waiting: TrendStats,
    pub statuses: BTreeMap<String, u64>,
    pub errors: BTreeMap<&'static str, u64>,
    pub cdn: CdnSummary,
    pub data_sent: u64,
    pub data_received: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckSummary {
    pub scenario: String,
    pub name: String,
    pub passes: u64,
    pub fails: u64,
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioSummary {
    pub name: String,
    pub iterations: u64,
    pub dropped_iterations: u64,
    pub interrupted_iterations: u64,
    pub iteration_duration: TrendStats,
    /// Open model only: scheduled start → end (coordinated-omission free).
    pub intended_latency: Option<TrendStats>,
    /// Open model only: scheduled start → actual start.
    pub scheduling_lag: Option<TrendStats>,
    pub vus_max: u64,
}

/// The whole summary (`--out json=PATH` writes exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: &'static str,
    pub run: RunInfo,
    /// Every built-in metric aggregated over all its series (k6's view).
    pub metrics: BTreeMap<&'static str, MetricSummary>,
    /// Every trend series: metric × {scenario, name, method, status}.
    pub series: Vec<SeriesSummary>,
    pub requests: Vec<RequestSummary>,
    pub checks: Vec<CheckSummary>,
    pub thresholds: Vec<ThresholdOutcome>,
    /// Failed requests by kind, over the whole run.
    pub errors: BTreeMap<&'static str, u64>,
    pub scenarios: Vec<ScenarioSummary>,
}

impl Summary {
    pub fn build(run: RunInfo, snap: &Snapshot, thresholds: Vec<ThresholdOutcome>, vus_peak: u64) -> Summary {
        let secs = run.duration_s.max(1e-9);
        let mut metrics = BTreeMap::new();
        for m in Metric::ALL {
            let s = match snap.query(m, &[]) {
                Value::Empty => match m.kind() {
                    MetricKind::Counter => MetricSummary::Counter { count: 0, rate: 0.0 },
                    _ => continue,
                },
                Value::Trend(h) => MetricSummary::Trend { stats: TrendStats::of(&h), rate: h.len() as f64 / secs },
                Value::Rate { trues, total } => MetricSummary::Rate { rate: trues as f64 / total as f64, trues, total },
                Value::Counter(n) => MetricSummary::Counter { count: n, rate: n as f64 / secs },
                Value::Gauge(n) => MetricSummary::Gauge { value: n, max: if m == Metric::Vus { vus_peak } else { n } },
            };
            metrics.insert(m.name(), s);
        }

        let mut series = Vec::new();
        for (k, r) in &snap.requests {
            for m in [
                Metric::HttpReqDuration,
                Metric::HttpReqBlocked,
                Metric::HttpReqConnecting,
                Metric::HttpReqTlsHandshaking,
                Metric::HttpReqSending,
                Metric::HttpReqWaiting,
                Metric::HttpReqReceiving,
            ] {
                let h = r.trend(m).expect("request trend");
                let mut tags = BTreeMap::new();
                tags.insert("scenario", k.scenario.to_string());
                tags.insert("name", k.name.to_string());
                tags.insert("method", k.method.as_str().to_string());
                tags.insert("status", k.status.to_string());
                series.push(SeriesSummary {
                    metric: m.name(),
                    tags,
                    stats: TrendStats::of(h),
                    rate: h.len() as f64 / secs,
                });
            }
        }
        for (name, s) in &snap.scenarios {
            for (m, h) in [
                (Metric::IterationDuration, &s.iteration_duration),
                (Metric::IntendedLatency, &s.intended_latency),
                (Metric::SchedulingLag, &s.scheduling_lag),
            ] {
                if h.is_empty() {
                    continue;
                }
                let mut tags = BTreeMap::new();
                tags.insert("scenario", name.to_string());
                series.push(SeriesSummary {
                    metric: m.name(),
                    tags,
                    stats: TrendStats::of(h),
                    rate: h.len() as f64 / secs,
                });
            }
        }

        let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut requests = Vec::new();
        for name in snap.request_names() {
            let r = snap.by_name(&name);
            let mut statuses = BTreeMap::new();
            for (k, v) in snap.requests.iter().filter(|(k, _)| k.name == name) {
                let label = if k.status == 0 { "none".to_string() } else { k.status.to_string() };
                *statuses.entry(label).or_insert(0) += v.count;
            }
            let mut errs = BTreeMap::new();
            for kind in ErrorKind::ALL {
                let n = r.errors[kind.index()];
                if n > 0 {
                    errs.insert(kind.as_str(), n);
                    *errors.entry(kind.as_str()).or_insert(0) += n;
                }
            }
            requests.push(RequestSummary {
                name: name.to_string(),
                count: r.count,
                rate: r.count as f64 / secs,
                failed: r.failed,
                error_rate: if r.count > 0 { r.failed as f64 / r.count as f64 } else { 0.0 },
                duration: TrendStats::of(&r.duration),
                duration_percentiles: percentile_curve(&r.duration),
                waiting: TrendStats::of(&r.waiting),
                statuses,
                errors: errs,
                cdn: CdnSummary::of(&r),
                data_sent: r.data_sent,
                data_received: r.data_received,
            });
        }

        let checks = snap
            .checks
            .iter()
            .map(|(k, c)| CheckSummary {
                scenario: k.scenario.to_string(),
                name: k.check.to_string(),
                passes: c.passes,
                fails: c.fails,
                rate: c.passes as f64 / (c.passes + c.fails).max(1) as f64,
            })
            .collect();

        let scenarios = snap
            .scenarios
            .iter()
            .map(|(name, s)| ScenarioSummary {
                name: name.to_string(),
                iterations: s.iterations,
                dropped_iterations: s.dropped_iterations,
                interrupted_iterations: s.interrupted_iterations,
                iteration_duration: TrendStats::of(&s.iteration_duration),
                intended_latency: (!s.intended_latency.is_empty()).then(|| TrendStats::of(&s.intended_latency)),
                scheduling_lag: (!s.scheduling_lag.is_empty()).then(|| TrendStats::of(&s.scheduling_lag)),
                vus_max: s.vus_max,
            })
            .collect();

        Summary { schema: SCHEMA, run, metrics, series, requests, checks, thresholds, errors, scenarios }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serializes")
    }

    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }
}
