//! The end-of-test summary: one serde document that the text summary, the
//! JSON file and the HTML and JUnit reports are all made from, so they never
//! disagree. A run builds it from its merged measurements
//! ([`Summary::build`]); `stampede report RUN.json` reads it back
//! ([`Summary::load`]) and renders exactly what the run would have. Unknown
//! fields are ignored and missing optional ones default, so a newer file
//! still renders. Schema: `docs/json-summary.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use stampede_metrics::hist::us_to_ms;
use stampede_metrics::live::{AgentInfo, Point};
use stampede_metrics::snapshot::Value;
use stampede_metrics::{
    ErrorKind, Histogram, MetricStats, MetricValue, RequestStats, RequestTrend, Snapshot, ThresholdOutcome, TrendStats,
};
use stampede_scenario::threshold::{Metric, MetricKind};

/// Version of the JSON summary schema (`docs/json-summary.md`).
pub const SCHEMA: &str = "stampede.summary/v1";

/// The prefix every version of the schema shares.
pub const SCHEMA_FAMILY: &str = "stampede.summary/";

/// Largest JSON summary `stampede report` reads (a day-long run at one point
/// per second is a few tens of MiB).
pub const MAX_SUMMARY_BYTES: u64 = 256 * 1024 * 1024;

/// Facts about the run that are not measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub scenario_file: String,
    /// Unix time of the start, in milliseconds.
    pub started_at_ms: u64,
    /// Wall time from start to the last measurement.
    pub duration_s: f64,
    /// Planned length (graceful stops excluded).
    pub planned_duration_s: f64,
    /// How the run ended: `completed`, `degraded`, `interrupted` (Ctrl-C /
    /// stop), `aborted_by_threshold`.
    pub outcome: String,
    /// The process exit code this summary leads to.
    pub exit_code: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A custom metric (`[metrics.NAME]`) over all its series. Numbers are in
/// the metric's unit (ms for a time trend); whole ones are written as
/// integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomMetricSummary {
    #[serde(flatten)]
    pub value: CustomValue,
    /// Samples not recorded: no value found, not a number, out of range.
    #[serde(default)]
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomValue {
    Counter {
        /// The sum of the amounts added.
        #[serde(with = "number")]
        count: f64,
        /// `count` per second over the run.
        rate: f64,
    },
    /// `null`s: no value was ever set (only skipped samples).
    Gauge {
        /// The last value set in the test.
        #[serde(default, with = "number")]
        value: Option<f64>,
        #[serde(default, with = "number")]
        min: Option<f64>,
        #[serde(default, with = "number")]
        max: Option<f64>,
    },
    Rate {
        /// `null` without a sample.
        rate: Option<f64>,
        trues: u64,
        total: u64,
    },
    Trend {
        /// A time trend: the statistics are ms.
        #[serde(default)]
        time: bool,
        #[serde(flatten)]
        stats: TrendStats,
        /// Samples per second.
        rate: f64,
    },
}

impl CustomMetricSummary {
    /// The summary of one metric's series merged, over a run of `secs`.
    pub fn of(m: &MetricStats, secs: f64) -> CustomMetricSummary {
        use stampede_metrics::custom::{SCALE, from_fixed};
        let value = match &m.value {
            MetricValue::Counter(sum) => {
                let count = *sum as f64 / SCALE;
                CustomValue::Counter { count, rate: count / secs }
            }
            MetricValue::Gauge(g) => CustomValue::Gauge {
                value: g.map(|g| from_fixed(g.last)),
                min: g.map(|g| from_fixed(g.min)),
                max: g.map(|g| from_fixed(g.max)),
            },
            MetricValue::Rate { trues, total } => CustomValue::Rate {
                rate: (*total > 0).then(|| *trues as f64 / *total as f64),
                trues: *trues,
                total: *total,
            },
            // Thousandths of the unit, as trends in µs are thousandths of a ms.
            MetricValue::Trend { hist, time, exact } => CustomValue::Trend {
                time: *time,
                stats: TrendStats::of_exact(hist, Some(exact)),
                rate: hist.len() as f64 / secs,
            },
        };
        CustomMetricSummary { value, skipped: m.skipped }
    }
}

/// A number written as an integer when it is one (`42`, not `42.0`): custom
/// counts and gauges are mostly whole.
mod number {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `f64` or `Option<f64>` (`null`).
    pub trait Number: Sized {
        fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
    }

    fn whole<S: Serializer>(v: f64, s: S) -> Result<S::Ok, S::Error> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 { s.serialize_i64(v as i64) } else { s.serialize_f64(v) }
    }

    impl Number for f64 {
        fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            whole(*self, s)
        }
    }

    impl Number for Option<f64> {
        fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Some(v) => whole(*v, s),
                None => None::<f64>.serialize(s),
            }
        }
    }

    pub fn serialize<T: Number, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.write(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

/// One raw series (metric + tags) of a trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesSummary {
    pub metric: String,
    pub tags: BTreeMap<String, String>,
    #[serde(flatten)]
    pub stats: TrendStats,
    pub rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
        let den = r.cdn_hits() + r.cdn_misses();
        let bytes = r.cdn_hit_bytes() + r.cdn_miss_bytes();
        CdnSummary {
            hits: r.cdn_hits(),
            misses: r.cdn_misses(),
            unknown: r.cdn_unknown(),
            hit_ratio: (den > 0).then(|| r.cdn_hits() as f64 / den as f64),
            hit_ratio_bytes: (bytes > 0).then(|| r.cdn_hit_bytes() as f64 / bytes as f64),
        }
    }
}

/// One point of a latency-by-percentile curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSummary {
    pub name: String,
    pub count: u64,
    pub rate: f64,
    pub failed: u64,
    pub error_rate: f64,
    pub duration: TrendStats,
    /// `http_req_duration` by percentile, read off the merged HDR histogram
    /// ([`PERCENTILES`], then 100 = max): what the HTML report plots.
    #[serde(default)]
    pub duration_percentiles: Vec<PercentilePoint>,
    pub waiting: TrendStats,
    #[serde(default)]
    pub statuses: BTreeMap<String, u64>,
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub cdn: CdnSummary,
    pub data_sent: u64,
    pub data_received: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    pub scenario: String,
    pub name: String,
    pub passes: u64,
    pub fails: u64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A load generator as the end of the run saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub name: String,
    pub address: String,
    pub state: String,
    pub vus: u64,
    pub rps: f64,
    pub requests: u64,
    pub lag_p99_ms: Option<f64>,
    pub cpu_percent: Option<f64>,
}

impl From<&AgentInfo> for AgentSummary {
    fn from(a: &AgentInfo) -> AgentSummary {
        AgentSummary {
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

/// The whole summary: `--out summary=PATH` writes exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema: String,
    pub run: RunInfo,
    /// Every built-in metric aggregated over all its series (k6's view).
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Every custom metric (`[metrics.NAME]`) with a sample (recorded or
    /// skipped), over all its series.
    #[serde(default)]
    pub custom_metrics: BTreeMap<String, CustomMetricSummary>,
    /// Every trend series: metric × {scenario, name, method, status, group,
    /// custom tags}, and `group_duration` × {scenario, group}.
    #[serde(default)]
    pub series: Vec<SeriesSummary>,
    #[serde(default)]
    pub requests: Vec<RequestSummary>,
    #[serde(default)]
    pub checks: Vec<CheckSummary>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdOutcome>,
    /// Failed requests by kind, over the whole run.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    #[serde(default)]
    pub scenarios: Vec<ScenarioSummary>,
    /// One entry per charted interval, oldest first (written by the outputs
    /// that keep the time line; empty in a summary built in memory).
    #[serde(default)]
    pub intervals: Vec<Point>,
    /// Load generators; empty when none was reported.
    #[serde(default)]
    pub agents: Vec<AgentSummary>,
    /// The run in blocks of time with their own histograms, for
    /// `stampede compare` (written by the outputs that keep the time line;
    /// absent in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histograms: Option<crate::blocks::Histograms>,
    /// What the outputs that send elsewhere (`prometheus-rw`) delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
}

/// What an output that sends to a receiver (`prometheus-rw=URL`) delivered.
/// One batch is one interval's samples of every series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The output kind (`prometheus-rw`).
    pub output: String,
    /// Where it sent (the URL).
    pub target: String,
    /// The `testid` label of every series it sent.
    pub testid: String,
    /// Native histogram schema of the trends.
    pub schema: i32,
    /// How far a quantile read from those histograms can be from the true
    /// one (the width of a bucket, relative).
    pub relative_error: f64,
    pub batches_sent: u64,
    pub samples_sent: u64,
    /// Batches the receiver never got: dropped from the full queue while it
    /// was away, refused by it, or still queued when the end of the run
    /// stopped waiting. Counters are totals, so a later batch carries
    /// their counts; only points of the time line are missing.
    pub batches_dropped: u64,
    pub samples_dropped: u64,
    /// Requests that failed (each retried or dropped).
    pub failed_attempts: u64,
    /// The last failure's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Summary {
    pub fn build(run: RunInfo, snap: &Snapshot, thresholds: Vec<ThresholdOutcome>, vus_peak: u64) -> Summary {
        let secs = run.duration_s.max(1e-9);
        let mut metrics = BTreeMap::new();
        for m in Metric::ALL {
            let s = match snap.query(&m, &[]) {
                Value::Empty => match m.kind() {
                    MetricKind::Counter => MetricSummary::Counter { count: 0, rate: 0.0 },
                    _ => continue,
                },
                Value::Trend { hist, exact } => MetricSummary::Trend {
                    stats: TrendStats::of_exact(&hist, exact.as_ref()),
                    rate: hist.len() as f64 / secs,
                },
                Value::Rate { trues, total } => MetricSummary::Rate { rate: trues as f64 / total as f64, trues, total },
                // Built-in counters and gauges are whole numbers.
                Value::Counter(n) => MetricSummary::Counter { count: n as u64, rate: n / secs },
                Value::Gauge { last, .. } => {
                    let n = last as u64;
                    MetricSummary::Gauge { value: n, max: if m == Metric::Vus { vus_peak } else { n } }
                }
            };
            metrics.insert(m.name().to_string(), s);
        }

        let custom_metrics = snap
            .custom_by(|k| &*k.metric)
            .into_iter()
            .map(|(name, m)| (name.to_string(), CustomMetricSummary::of(&m, secs)))
            .collect();

        let mut series = Vec::new();
        for (k, r) in &snap.requests {
            for t in RequestTrend::ALL {
                let (m, h) = (t.metric(), &r[t]);
                let mut tags = BTreeMap::from([
                    ("scenario".to_string(), k.scenario.to_string()),
                    ("name".to_string(), k.name.to_string()),
                    ("method".to_string(), k.method.as_str().to_string()),
                    ("status".to_string(), k.status.to_string()),
                    ("group".to_string(), k.group.to_string()),
                ]);
                tags.extend(k.tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                series.push(SeriesSummary {
                    metric: m.name().to_string(),
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
                let tags = BTreeMap::from([("scenario".to_string(), name.to_string())]);
                series.push(SeriesSummary {
                    metric: m.name().to_string(),
                    tags,
                    stats: TrendStats::of(h),
                    rate: h.len() as f64 / secs,
                });
            }
        }

        for (k, h) in &snap.groups {
            let tags = BTreeMap::from([
                ("scenario".to_string(), k.scenario.to_string()),
                ("group".to_string(), k.group.to_string()),
            ]);
            series.push(SeriesSummary {
                metric: Metric::GroupDuration.name().to_string(),
                tags,
                stats: TrendStats::of(h),
                rate: h.len() as f64 / secs,
            });
        }

        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut requests = Vec::new();
        for name in snap.request_names() {
            let r = snap.by_name(&name);
            let mut statuses = BTreeMap::new();
            for (k, v) in snap.requests.iter().filter(|(k, _)| k.name == name) {
                let label = if k.status == 0 { "none".to_string() } else { k.status.to_string() };
                *statuses.entry(label).or_insert(0) += v.count();
            }
            let mut errs = BTreeMap::new();
            for kind in ErrorKind::ALL {
                let n = r.errors[kind.index()];
                if n > 0 {
                    errs.insert(kind.as_str().to_string(), n);
                    *errors.entry(kind.as_str().to_string()).or_insert(0) += n;
                }
            }
            requests.push(RequestSummary {
                name: name.to_string(),
                count: r.count(),
                rate: r.count() as f64 / secs,
                failed: r.failed(),
                error_rate: r.error_rate(),
                duration: TrendStats::of(r.duration()),
                duration_percentiles: percentile_curve(r.duration()),
                waiting: TrendStats::of(r.waiting()),
                statuses,
                errors: errs,
                cdn: CdnSummary::of(&r),
                data_sent: r.data_sent(),
                data_received: r.data_received(),
            });
        }

        // One line per scenario and check, merged over groups and tags.
        let mut by_check: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
        for (k, c) in &snap.checks {
            let e = by_check.entry((&k.scenario, &k.check)).or_default();
            e.0 += c.passes;
            e.1 += c.fails;
        }
        let checks = by_check
            .into_iter()
            .map(|((scenario, name), (passes, fails))| CheckSummary {
                scenario: scenario.to_string(),
                name: name.to_string(),
                passes,
                fails,
                rate: passes as f64 / (passes + fails).max(1) as f64,
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

        Summary {
            schema: SCHEMA.to_string(),
            run,
            metrics,
            custom_metrics,
            series,
            requests,
            checks,
            thresholds,
            errors,
            scenarios,
            intervals: Vec::new(),
            agents: Vec::new(),
            histograms: None,
            deliveries: Vec::new(),
        }
    }

    /// The same summary with the run's time line and load generators, as
    /// the JSON and HTML outputs write it.
    pub fn with_timeline(
        &self,
        points: &[Point],
        agents: &[AgentSummary],
        histograms: Option<crate::blocks::Histograms>,
    ) -> Summary {
        Summary { intervals: points.to_vec(), agents: agents.to_vec(), histograms, ..self.clone() }
    }

    /// Reads a JSON summary written by `--out summary=PATH` (at most [`MAX_SUMMARY_BYTES`],
    /// checked while reading: the path comes from the user and may be endless).
    pub fn load(path: &Path) -> std::io::Result<Summary> {
        use stampede_scenario::input::{ReadError, read_bounded};
        let bytes = read_bounded(path, MAX_SUMMARY_BYTES, "JSON summary").map_err(|e| match e {
            ReadError::Io { source, .. } => std::io::Error::new(source.kind(), format!("{}: {source}", path.display())),
            too_large => std::io::Error::new(std::io::ErrorKind::InvalidData, too_large.to_string()),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: not UTF-8 text", path.display()))
        })?;
        Summary::parse(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
    }

    /// Parses a JSON summary; says what is wrong when it is not one.
    pub fn parse(text: &str) -> Result<Summary, String> {
        let v: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) if is_k6_stream(text) => {
                return Err(format!(
                    "this is a k6-style NDJSON stream (`--out json=FILE`), not a Stampede JSON summary \
                     ({SCHEMA_FAMILY}v1): write one with `--out summary=FILE`"
                ));
            }
            Err(e) => return Err(format!("not JSON: {e}")),
        };
        match v.get("schema").and_then(|s| s.as_str()) {
            Some(s) if s.starts_with(SCHEMA_FAMILY) => {}
            Some(s) => return Err(format!("schema `{s}` is not a Stampede summary (expected {SCHEMA_FAMILY}v1)")),
            None if is_k6_stream(text) => {
                return Err(format!(
                    "this is a k6-style NDJSON stream (`--out json=FILE`), not a Stampede JSON summary \
                     ({SCHEMA_FAMILY}v1): write one with `--out summary=FILE`"
                ));
            }
            None if v.get("root_group").is_some() => {
                return Err(format!(
                    "this is a k6-style summary export (`--summary-export`), not a Stampede JSON summary \
                     ({SCHEMA_FAMILY}v1): write one with `--out summary=FILE`"
                ));
            }
            None => {
                return Err(format!(
                    "no `schema` field: not a Stampede JSON summary (expected {SCHEMA_FAMILY}v1, written by --out summary=PATH)"
                ));
            }
        }
        serde_json::from_value(v).map_err(|e| format!("not a valid {SCHEMA_FAMILY}v1 document: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serializes")
    }

    pub fn metric(&self, name: &str) -> Option<&MetricSummary> {
        self.metrics.get(name)
    }
}

/// Whether `text` opens like a k6-style NDJSON stream (`--out json=`): a
/// first line that is a `Metric` or `Point` object.
fn is_k6_stream(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    serde_json::from_str::<serde_json::Value>(first)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(|t| matches!(t, "Metric" | "Point")))
        .unwrap_or(false)
}
