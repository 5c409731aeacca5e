//! Custom metrics (`[metrics.NAME]`, k6's `Counter`, `Gauge`, `Rate` and
//! `Trend`): one series per metric and tag set, recorded by the hot path
//! like request series and merged exactly like them.
//!
//! Values are kept in **thousandths** of their unit as integers ([`SCALE`]):
//! a counter's sum is exact for whole amounts; a trend is an HDR histogram of
//! thousandths, so a time trend (values in ms) holds microseconds, exactly as
//! every built-in trend does, and the same conversions (÷ 1000) serve both.
//! Beside its histogram a trend keeps its exact minimum, maximum and sum
//! ([`TrendExact`]): k6 keeps every sample, so `max<=50` or `avg==30` must
//! hold on the values themselves, not on a bucket's bounds.
//! What a sample may hold is decided once, by `MetricKind::accepts`; a sample
//! without a value, or one it refuses, is counted as skipped, never recorded.

use std::sync::Arc;

use stampede_scenario::TagSet;
use stampede_scenario::threshold::{CustomMetric, MetricKind};

use crate::hist::{Histogram, merge, new_histogram, record};

/// Thousandths: a stored integer is `value × SCALE`, rounded.
pub const SCALE: f64 = 1000.0;

/// A value (one that `MetricKind::accepts`) in thousandths.
#[inline]
pub fn to_fixed(v: f64) -> i64 {
    (v * SCALE).round() as i64
}

/// Thousandths back to the metric's unit.
#[inline]
pub fn from_fixed(n: i64) -> f64 {
    n as f64 / SCALE
}

/// The numeric identity of a custom metric series inside one worker; the
/// integers index the worker's [`crate::Layout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricId {
    /// Index into `Layout::metrics`.
    pub metric: u16,
    pub scenario: u16,
    /// Index into `Layout::request_names`: the request whose response fed
    /// the sample, or [`MetricId::NO_NAME`].
    pub name: u32,
    /// Index into `Layout::groups` (0: the root group).
    pub group: u32,
    /// Index into `Layout::tag_sets` (0: no custom tags).
    pub tags: u32,
}

impl MetricId {
    /// A sample that no request fed (a future script's `counter.add(1)`
    /// outside a request): its `name` tag is empty.
    pub const NO_NAME: u32 = u32::MAX;

    /// The id as one integer (every field has its own bits).
    #[inline]
    pub(crate) fn packed(self) -> u128 {
        (self.metric as u128) << 112
            | (self.scenario as u128) << 96
            | (self.name as u128) << 64
            | (self.group as u128) << 32
            | self.tags as u128
    }
}

/// Identity of a custom metric series across processes: the metric and the
/// tags of its samples.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// The metric's declared name.
    pub metric: Arc<str>,
    pub scenario: Arc<str>,
    /// The request name of the step that fed it (`""`: none).
    pub name: Arc<str>,
    /// k6's `group` tag (`""`: the root group).
    pub group: Arc<str>,
    /// Custom tags, sorted by key.
    pub tags: TagSet,
}

impl MetricKey {
    /// The value of a custom tag of this series.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// Whether the series matches a selector's tag filters (`name`,
    /// `scenario`, `group`, custom tags).
    pub fn matches(&self, tags: &[(Arc<str>, Arc<str>)]) -> bool {
        tags.iter().all(|(key, v)| match &**key {
            "name" => *v == self.name,
            "scenario" => *v == self.scenario,
            "group" => *v == self.group,
            custom => self.tag(custom) == Some(&**v),
        })
    }
}

/// One series of a custom metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStats {
    pub value: MetricValue,
    /// Samples not recorded: no value found, text that is not a number, or
    /// a value the kind cannot hold (see `MetricKind::accepts`).
    pub skipped: u64,
}

/// What a series holds, by kind; every number in thousandths.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// The sum of the amounts added.
    Counter(u64),
    /// `None` until a value was set.
    Gauge(Option<GaugeValue>),
    /// Non-zero samples and all samples.
    Rate { trues: u64, total: u64 },
    /// `time`: a time trend (thousandths of a ms: µs), shown in ms.
    /// `exact`: the samples' exact extremes and sum (the histogram's
    /// buckets are only 3 significant digits wide).
    Trend { hist: Histogram, time: bool, exact: TrendExact },
}

/// A trend's exact minimum, maximum and sum, in thousandths, next to its
/// histogram (whose `len()` is the exact count). Trends hold no negative
/// values (`MetricKind::accepts`), so all three are unsigned.
///
/// The sum is a `u128`: integer addition is exact and associative, so the
/// sum (and so `avg`) does not depend on how workers, agents and intervals
/// were merged; an `f64` sum would round past 2^53 thousandths (9·10^12
/// units) and differ with the merge order. A `u64` could overflow: one
/// series may take up to 10^15 thousandths per sample, 2^40 samples per
/// interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendExact {
    /// `u64::MAX` while empty.
    pub min: u64,
    /// 0 while empty.
    pub max: u64,
    pub sum: u128,
}

impl Default for TrendExact {
    fn default() -> Self {
        TrendExact::EMPTY
    }
}

impl TrendExact {
    /// No sample yet: the identity of [`TrendExact::merge`].
    pub const EMPTY: TrendExact = TrendExact { min: u64::MAX, max: 0, sum: 0 };

    #[inline]
    pub fn record(&mut self, n: u64) {
        self.min = self.min.min(n);
        self.max = self.max.max(n);
        self.sum = self.sum.saturating_add(n as u128);
    }

    pub fn merge(&mut self, o: &TrendExact) {
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum = self.sum.saturating_add(o.sum);
    }

    /// The best a histogram alone tells (a peer that sends no exact values):
    /// its lowest and highest equivalent values and its mean × count, as
    /// every figure was before exact values were kept.
    pub fn of_histogram(h: &Histogram) -> TrendExact {
        if h.is_empty() {
            return TrendExact::EMPTY;
        }
        TrendExact { min: h.min(), max: h.max(), sum: (h.mean() * h.len() as f64).round() as u128 }
    }

    /// The mean of `count` samples (the histogram's `len()`), thousandths.
    pub fn mean(&self, count: u64) -> f64 {
        if count == 0 { 0.0 } else { self.sum as f64 / count as f64 }
    }

    /// A histogram's quantile brought inside the exact range: HDR answers a
    /// bucket's highest equivalent value, which may lie past the largest
    /// sample (`p(100)` is then exactly the max, `p(0)` the min).
    pub fn quantile(&self, h: &Histogram, q: f64) -> u64 {
        let v = h.value_at_quantile(q);
        if self.min > self.max { v } else { v.clamp(self.min, self.max) }
    }
}

/// A gauge: the last value set, when it was set, and the extremes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaugeValue {
    pub last: i64,
    /// When `last` was set: µs since the test start, as the recording
    /// process measured it (processes start together at the barrier).
    pub at_us: u64,
    pub min: i64,
    pub max: i64,
}

impl GaugeValue {
    /// Combines two gauges of any sources: the later `last` wins (ties: the
    /// larger value, so the result does not depend on merge order); the
    /// extremes cover both.
    pub fn merge(self, o: GaugeValue) -> GaugeValue {
        let later = (o.at_us, o.last) > (self.at_us, self.last);
        let (last, at_us) = if later { (o.last, o.at_us) } else { (self.last, self.at_us) };
        GaugeValue { last, at_us, min: self.min.min(o.min), max: self.max.max(o.max) }
    }
}

impl MetricStats {
    /// An empty series of `metric`.
    pub fn new(metric: &CustomMetric) -> MetricStats {
        MetricStats::of_kind(metric.kind, metric.time)
    }

    /// An empty series of a kind (`time`: a time trend).
    pub fn of_kind(kind: MetricKind, time: bool) -> MetricStats {
        let value = match kind {
            MetricKind::Counter => MetricValue::Counter(0),
            MetricKind::Gauge => MetricValue::Gauge(None),
            MetricKind::Rate => MetricValue::Rate { trues: 0, total: 0 },
            MetricKind::Trend => MetricValue::Trend { hist: new_histogram(), time, exact: TrendExact::EMPTY },
        };
        MetricStats { value, skipped: 0 }
    }

    pub fn kind(&self) -> MetricKind {
        match self.value {
            MetricValue::Counter(_) => MetricKind::Counter,
            MetricValue::Gauge(_) => MetricKind::Gauge,
            MetricValue::Rate { .. } => MetricKind::Rate,
            MetricValue::Trend { .. } => MetricKind::Trend,
        }
    }

    /// Records one sample; `None` (no value) and values the kind refuses
    /// count as skipped. `at_us` (µs since the test start) orders gauges.
    #[inline]
    pub fn record(&mut self, value: Option<f64>, at_us: u64) {
        let Some(v) = value.filter(|v| self.kind().accepts(*v)) else {
            self.skipped += 1;
            return;
        };
        match &mut self.value {
            MetricValue::Counter(sum) => *sum = sum.saturating_add(to_fixed(v) as u64),
            MetricValue::Gauge(g) => {
                let n = to_fixed(v);
                let set = GaugeValue { last: n, at_us, min: n, max: n };
                *g = Some(g.map_or(set, |g| g.merge(set)));
            }
            MetricValue::Rate { trues, total } => {
                *trues += u64::from(v != 0.0);
                *total += 1;
            }
            MetricValue::Trend { hist, exact, .. } => {
                let n = to_fixed(v) as u64;
                record(hist, n);
                exact.record(n);
            }
        }
    }

    /// Adds another source's series of the same metric (workers, agents,
    /// intervals). A series of another kind (impossible from one plan) only
    /// adds its skipped count.
    pub fn merge(&mut self, o: &MetricStats) {
        self.skipped = self.skipped.saturating_add(o.skipped);
        match (&mut self.value, &o.value) {
            (MetricValue::Counter(a), MetricValue::Counter(b)) => *a = a.saturating_add(*b),
            (MetricValue::Gauge(a), MetricValue::Gauge(Some(b))) => *a = Some(a.map_or(*b, |a| a.merge(*b))),
            (MetricValue::Gauge(_), MetricValue::Gauge(None)) => {}
            (MetricValue::Rate { trues, total }, MetricValue::Rate { trues: t, total: n }) => {
                *trues = trues.saturating_add(*t);
                *total = total.saturating_add(*n);
            }
            (MetricValue::Trend { hist, exact, .. }, MetricValue::Trend { hist: h, exact: e, .. }) => {
                merge(hist, h);
                exact.merge(e);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(kind: MetricKind) -> MetricStats {
        MetricStats::of_kind(kind, false)
    }

    #[test]
    fn counters_sum_whole_amounts_exactly_and_skip_what_they_cannot_hold() {
        let mut c = stats(MetricKind::Counter);
        for _ in 0..1_000_000 {
            c.record(Some(1.0), 0);
        }
        c.record(Some(0.1), 0);
        c.record(Some(0.2), 0);
        c.record(Some(-1.0), 0);
        c.record(None, 0);
        c.record(Some(f64::NAN), 0);
        assert_eq!(c.value, MetricValue::Counter(1_000_000_300));
        assert_eq!(c.skipped, 3);
    }

    #[test]
    fn a_gauge_keeps_the_latest_value_whatever_the_merge_order() {
        let mut a = stats(MetricKind::Gauge);
        a.record(Some(5.0), 100);
        a.record(Some(-2.5), 300);
        let mut b = stats(MetricKind::Gauge);
        b.record(Some(9.0), 200);
        b.record(Some(1.0), 250);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        let want = GaugeValue { last: -2500, at_us: 300, min: -2500, max: 9000 };
        assert_eq!(ab.value, MetricValue::Gauge(Some(want)));
        // Ties go to the larger value.
        let mut c = stats(MetricKind::Gauge);
        c.record(Some(7.0), 300);
        ab.merge(&c);
        assert!(matches!(ab.value, MetricValue::Gauge(Some(GaugeValue { last: 7000, .. }))));
    }

    #[test]
    fn rates_count_non_zero_samples_and_trends_hold_thousandths() {
        let mut r = stats(MetricKind::Rate);
        for v in [0.0, 1.0, 2.5, -1.0, f64::INFINITY] {
            r.record(Some(v), 0);
        }
        assert_eq!(r.value, MetricValue::Rate { trues: 4, total: 5 });
        let mut t = MetricStats::of_kind(MetricKind::Trend, true);
        for v in [0.0, 0.0015, 12.5, 1e12] {
            t.record(Some(v), 0);
        }
        t.record(Some(-0.001), 0);
        t.record(Some(2e12), 0);
        let MetricValue::Trend { hist, time: true, exact } = &t.value else { panic!("{t:?}") };
        assert_eq!((exact.min, exact.max, exact.sum), (0, 1_000_000_000_000_000, 1_000_000_000_012_502));
        assert_eq!((hist.len(), t.skipped), (4, 2));
        assert_eq!(hist.min(), 0);
        assert_eq!(hist.value_at_quantile(0.5), 2, "0.0015 rounds to 2 thousandths");
        assert!((hist.max() as f64 - 1e15).abs() / 1e15 < 1e-3);
    }
}
