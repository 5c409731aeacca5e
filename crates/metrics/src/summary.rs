//! Statistics users read: trend summaries in milliseconds, and thresholds
//! evaluated on merged data.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stampede_scenario::threshold::{Aggregation, Threshold};

use crate::custom::TrendExact;
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
        TrendStats::of_exact(h, None)
    }

    /// A trend's statistics, with `exact` (a custom trend's) giving the
    /// exact min, max and mean and keeping every percentile inside them.
    pub fn of_exact(h: &Histogram, exact: Option<&TrendExact>) -> TrendStats {
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
        let t = TrendView { hist: h, exact };
        let q = |p: f64| us_to_ms(t.quantile(p) as f64);
        TrendStats {
            count: h.len(),
            min: us_to_ms(t.min() as f64),
            mean: us_to_ms(t.mean()),
            p50: q(0.5),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: us_to_ms(t.max() as f64),
        }
    }
}

/// A trend's figures: the histogram's, or the exact ones where a custom
/// trend keeps them (percentiles then clamped to the exact range).
#[derive(Clone, Copy)]
pub struct TrendView<'a> {
    pub hist: &'a Histogram,
    pub exact: Option<&'a TrendExact>,
}

impl TrendView<'_> {
    pub fn min(&self) -> u64 {
        self.exact.map_or_else(|| self.hist.min(), |e| e.min)
    }

    pub fn max(&self) -> u64 {
        self.exact.map_or_else(|| self.hist.max(), |e| e.max)
    }

    pub fn mean(&self) -> f64 {
        self.exact.map_or_else(|| self.hist.mean(), |e| e.mean(self.hist.len()))
    }

    pub fn quantile(&self, q: f64) -> u64 {
        self.exact.map_or_else(|| self.hist.value_at_quantile(q), |e| e.quantile(self.hist, q))
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
        (Value::Trend { hist, exact }, agg) => {
            let h = TrendView { hist: &hist, exact: exact.as_ref() };
            Some(match agg {
                Aggregation::Avg => us_to_ms(h.mean()),
                Aggregation::Min => us_to_ms(h.min() as f64),
                Aggregation::Max => us_to_ms(h.max() as f64),
                Aggregation::Med => us_to_ms(h.quantile(0.5) as f64),
                Aggregation::Percentile(p) => us_to_ms(h.quantile(p / 100.0) as f64),
                Aggregation::Count => hist.len() as f64,
                Aggregation::Rate | Aggregation::Value => return None,
            })
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layout, MetricId, Shard};
    use stampede_scenario::threshold::{CustomMetric, Metric, MetricKind, parse_threshold};

    fn outcomes(snap: &Snapshot, metrics: &[Arc<CustomMetric>], rules: &[(&str, &str)]) -> Vec<(String, bool)> {
        let ts: Vec<Threshold> = rules
            .iter()
            .map(|(sel, expr)| parse_threshold(sel, expr, false, Duration::ZERO, metrics).unwrap())
            .collect();
        evaluate(&ts, snap, Duration::from_secs(1))
            .into_iter()
            .map(|o| (format!("{} {} = {:?}", o.metric, o.threshold, o.observed), o.passed))
            .collect()
    }

    /// k6 keeps every sample: a trend of 10, 20, 30, 40, 50 has max 50 and
    /// avg 30 exactly, whichever worker recorded which sample.
    #[test]
    fn custom_trend_extremes_and_mean_are_exact_across_shards() {
        let metrics = vec![Arc::new(CustomMetric { name: "t".into(), kind: MetricKind::Trend, time: false })];
        let layout = Arc::new(Layout { metrics: metrics.clone(), ..Layout::plain(vec!["s".into()], vec![], vec![]) });
        let id = MetricId { metric: 0, scenario: 0, name: MetricId::NO_NAME, group: 0, tags: 0 };
        let (mut a, mut b) = (Shard::new(layout.clone()), Shard::new(layout));
        for v in [10.0, 30.0, 50.0] {
            a.record_metric(id, Some(v), 0);
        }
        for v in [20.0, 40.0] {
            b.record_metric(id, Some(v), 0);
        }
        let mut snap = a.into_snapshot();
        snap.merge(&b.into_snapshot());
        let got = outcomes(
            &snap,
            &metrics,
            &[
                ("t", "max<=50"),
                ("t", "max==50"),
                ("t", "min==10"),
                ("t", "avg==30"),
                ("t", "p(90)<=50"),
                ("t", "p(100)==50"),
                ("t", "p(0)==10"),
                ("t", "med>=29.9"),
            ],
        );
        for (what, passed) in &got {
            assert!(passed, "{what}");
        }
        let Value::Trend { hist, exact } = snap.query(&Metric::Custom(metrics[0].clone()), &[]) else { panic!() };
        let s = TrendStats::of_exact(&hist, exact.as_ref());
        assert_eq!((s.count, s.min, s.mean, s.max, s.p99), (5, 10.0, 30.0, 50.0, 50.0));
    }

    /// `checks{area:account}` counts the checks tagged so, and only them;
    /// `checks{group:::login}` those of that group.
    #[test]
    fn a_tagged_check_threshold_selects_only_its_samples() {
        let tags = |kv: &[(&str, &str)]| -> stampede_scenario::TagSet {
            Arc::from(kv.iter().map(|(k, v)| (Arc::from(*k), Arc::from(*v))).collect::<Vec<_>>())
        };
        let layout = Arc::new(Layout {
            groups: vec!["".into(), "::login".into()],
            tag_sets: vec![tags(&[]), tags(&[("area", "account")]), tags(&[("area", "cart")])],
            ..Layout::plain(vec!["s".into()], vec![], vec!["ok".into(), "fast".into()])
        });
        let mut shard = Shard::new(layout);
        for _ in 0..3 {
            shard.check_tagged(0, 0, 0, 1, true); // area:account, passes
            shard.check_tagged(0, 0, 0, 2, false); // area:cart, fails
            shard.check_tagged(0, 1, 1, 0, true); // group ::login, passes
            shard.check(0, 1, false); // plain, fails
        }
        let snap = shard.into_snapshot();
        let got = outcomes(
            &snap,
            &[],
            &[
                ("checks{area:account}", "rate==1"),
                ("checks{area:cart}", "rate==0"),
                ("checks{group:::login}", "rate==1"),
                // The root group: account passes, cart and plain fail.
                ("checks{group:}", "rate>0.333"),
                ("checks{group:}", "rate<0.334"),
                ("checks{check:fast}", "rate==0.5"),
                ("checks", "rate==0.5"),
            ],
        );
        for (what, passed) in &got {
            assert!(passed, "{what}");
        }
        let q = |sel: &str| {
            let t = parse_threshold(sel, "rate==1", false, Duration::ZERO, &[]).unwrap();
            snap.query(&t.metric, &t.tags)
        };
        assert!(matches!(q("checks{area:account}"), Value::Rate { trues: 3, total: 3 }));
        assert!(q("checks{area:billing}").is_empty(), "no sample matched");
        // One series per check, scenario, group and tag set.
        assert_eq!(snap.checks.len(), 4);
    }
}
