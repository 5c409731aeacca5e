//! Statistics users read: trend summaries in milliseconds, and thresholds
//! evaluated on merged data.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stampede_scenario::threshold::{Aggregation, Threshold};

use crate::hist::{Histogram, us_to_ms};
use crate::snapshot::{Snapshot, Value};

/// A trend's statistics in milliseconds (k6's unit).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct TrendStats {
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

impl TrendStats {
    pub fn of(h: &Histogram) -> TrendStats {
        if h.is_empty() {
            return TrendStats {
                count: 0,
                min: 0.0,
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p95: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        let q = |p: f64| us_to_ms(h.value_at_quantile(p) as f64);
        TrendStats {
            count: h.len(),
            min: us_to_ms(h.min() as f64),
            mean: us_to_ms(h.mean()),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: us_to_ms(h.max() as f64),
        }
    }
}

/// A threshold's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOutcome {
    /// The selector as written, e.g. `http_req_duration{name:checkout}`.
    pub metric: Arc<str>,
    /// The expression as written, e.g. `p(95)<800`.
    pub threshold: Arc<str>,
    pub passed: bool,
    /// The observed value of the aggregation (ms for time trends); `None` when
    /// no sample matched the selector (the threshold then passes, as in k6,
    /// but the summary warns).
    pub observed: Option<f64>,
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Whether `observed` is a time in ms (a time trend's `p(N)`, `avg`, …);
    /// `None` in files written before the field existed (the metric's name
    /// tells then).
    #[serde(default)]
    pub time: Option<bool>,
}

impl ThresholdOutcome {
    /// The aggregation as written (`p(95)`, `rate`, `count`).
    pub fn aggregation(&self) -> &str {
        self.threshold.split(['<', '>', '=', '!']).next().unwrap_or("").trim()
    }

    /// Whether the observed value is milliseconds.
    pub fn in_ms(&self) -> bool {
        let base = self.metric.split('{').next().unwrap_or("").trim();
        let time = self
            .time
            .unwrap_or_else(|| stampede_scenario::threshold::Metric::from_name(base).is_some_and(|m| m.is_time()));
        time && self.aggregation() != "count"
    }
}

/// Computes a threshold's aggregation over a snapshot. Trends are kept in
/// thousandths of their unit (µs for time trends), so one conversion gives
/// ms for time trends and the unit for custom ones.
pub fn observe(t: &Threshold, snap: &Snapshot, elapsed: Duration) -> Option<f64> {
    let value = snap.query(&t.metric, &t.tags);
    match (value, t.aggregation) {
        (Value::Empty, _) => None,
        (Value::Trend(h), agg) => Some(match agg {
            Aggregation::Avg => us_to_ms(h.mean()),
            Aggregation::Min => us_to_ms(h.min() as f64),
            Aggregation::Max => us_to_ms(h.max() as f64),
            Aggregation::Med => us_to_ms(h.value_at_quantile(0.5) as f64),
            Aggregation::Percentile(p) => us_to_ms(h.value_at_quantile(p / 100.0) as f64),
            Aggregation::Count => h.len() as f64,
            Aggregation::Rate | Aggregation::Value => return None,
        }),
        (Value::Rate { trues, total }, _) => Some(trues as f64 / total as f64),
        (Value::Counter(n), Aggregation::Rate) => {
            let secs = elapsed.as_secs_f64();
            Some(if secs > 0.0 { n / secs } else { 0.0 })
        }
        (Value::Counter(n), _) => Some(n),
        (Value::Gauge { min, .. }, Aggregation::Min) => Some(min),
        (Value::Gauge { max, .. }, Aggregation::Max) => Some(max),
        (Value::Gauge { last, .. }, _) => Some(last),
    }
}

/// Evaluates every threshold on cumulative data.
pub fn evaluate(thresholds: &[Threshold], snap: &Snapshot, elapsed: Duration) -> Vec<ThresholdOutcome> {
    thresholds
        .iter()
        .map(|t| {
            let observed = observe(t, snap, elapsed);
            ThresholdOutcome {
                metric: t.selector.clone(),
                threshold: t.source.clone(),
                passed: observed.is_none_or(|v| t.comparison.holds(v, t.value)),
                observed,
                abort_on_fail: t.abort_on_fail,
                time: Some(t.metric.is_time()),
            }
        })
        .collect()
}
