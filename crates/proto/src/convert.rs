//! Snapshots ⇄ wire messages.

use std::sync::Arc;

use std::collections::HashMap;

use stampede_metrics::custom::{GaugeValue, SCALE};
use stampede_metrics::hist::{self, DecodeError, Histogram};
use stampede_metrics::snapshot::CheckKey;
use stampede_metrics::snapshot::GroupKey;
use stampede_metrics::{
    Method, MetricKey, MetricStats, MetricValue, RequestCounter, RequestKey, RequestTrend, Snapshot, TrendExact,
};
use stampede_scenario::TagSet;
use stampede_scenario::threshold::{CustomMetric, MAX_CUSTOM_VALUE, MetricKind};

use crate::v1;

/// A histogram for the wire: V2 without DEFLATE (see [`hist::encode_plain`]).
fn enc(h: &Histogram) -> prost::bytes::Bytes {
    if h.is_empty() { prost::bytes::Bytes::new() } else { hist::encode_plain(h).into() }
}

fn method_of(s: &str) -> Method {
    match s {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

/// Encodes one interval's snapshot.
pub fn to_wire(index: u64, last: bool, s: &Snapshot) -> v1::Snapshot {
    v1::Snapshot {
        index,
        r#final: last,
        started_at_us: 0,
        requests: s
            .requests
            .iter()
            .map(|(k, r)| v1::RequestSeries {
                scenario: k.scenario.to_string(),
                name: k.name.to_string(),
                method: k.method.as_str().to_string(),
                status: k.status as u32,
                trends: r.trends.iter().map(enc).collect(),
                counters: r.counters.to_vec(),
                errors: r.errors.to_vec(),
                group: k.group.to_string(),
                tags: tags_to_wire(&k.tags),
            })
            .collect(),
        scenarios: s
            .scenarios
            .iter()
            .map(|(name, sc)| v1::ScenarioSeries {
                name: name.to_string(),
                iterations: sc.iterations,
                iteration_duration: enc(&sc.iteration_duration),
                dropped_iterations: sc.dropped_iterations,
                interrupted_iterations: sc.interrupted_iterations,
                intended_latency: enc(&sc.intended_latency),
                scheduling_lag: enc(&sc.scheduling_lag),
                vus: sc.vus,
                vus_max: sc.vus_max,
            })
            .collect(),
        checks: s
            .checks
            .iter()
            .map(|(k, c)| v1::CheckSeries {
                scenario: k.scenario.to_string(),
                check: k.check.to_string(),
                passes: c.passes,
                fails: c.fails,
                group: k.group.to_string(),
                tags: tags_to_wire(&k.tags),
            })
            .collect(),
        groups: s
            .groups
            .iter()
            .map(|(k, h)| v1::GroupSeries {
                scenario: k.scenario.to_string(),
                group: k.group.to_string(),
                duration: enc(h),
            })
            .collect(),
        metrics: s.metrics.iter().map(|(k, m)| metric_to_wire(k, m)).collect(),
        script: None,
    }
}

fn tags_to_wire(tags: &TagSet) -> Vec<v1::Tag> {
    tags.iter().map(|(k, v)| v1::Tag { key: k.to_string(), value: v.to_string() }).collect()
}

fn metric_to_wire(k: &MetricKey, m: &MetricStats) -> v1::MetricSeries {
    use v1::metric_series::Value as W;
    let value = match &m.value {
        MetricValue::Counter(sum) => Some(W::Counter(*sum)),
        MetricValue::Gauge(g) => {
            g.map(|g| W::Gauge(v1::GaugeValue { last: g.last, at_us: g.at_us, min: g.min, max: g.max }))
        }
        MetricValue::Rate { trues, total } => Some(W::Rate(v1::RateValue { trues: *trues, total: *total })),
        MetricValue::Trend { hist, .. } => (!hist.is_empty()).then(|| W::Trend(hist::encode_plain(hist).into())),
    };
    let trend_exact = match &m.value {
        MetricValue::Trend { hist, exact, .. } if !hist.is_empty() => Some(v1::TrendExact {
            min: exact.min,
            max: exact.max,
            sum_low: exact.sum as u64,
            sum_high: (exact.sum >> 64) as u64,
        }),
        _ => None,
    };
    v1::MetricSeries {
        metric: k.metric.to_string(),
        scenario: k.scenario.to_string(),
        name: k.name.to_string(),
        group: k.group.to_string(),
        tags: tags_to_wire(&k.tags),
        skipped: m.skipped,
        value,
        trend_exact,
    }
}

/// The command-line overrides a coordinator hands its agents (data files
/// travel beside them, in the assignment).
pub fn overrides_to_wire(o: &stampede_scenario::Overrides) -> v1::Overrides {
    v1::Overrides {
        target: o.target.clone().unwrap_or_default(),
        vus: o.vus.unwrap_or(0),
        duration_ms: o.duration.map_or(0, |d| d.as_millis() as u64),
        // A map: the last value of a repeated key wins, as in the CLI.
        env: o.env.iter().cloned().collect(),
        hosts: o.hosts.clone(),
        local_ips: o.local_ips.clone().unwrap_or_default(),
    }
}

/// The overrides an agent compiles its assigned plan with.
pub fn overrides_from_wire(o: &v1::Overrides, data_files: &[v1::DataFile]) -> stampede_scenario::Overrides {
    stampede_scenario::Overrides {
        target: (!o.target.is_empty()).then(|| o.target.clone()),
        vus: (o.vus > 0).then_some(o.vus),
        duration: (o.duration_ms > 0).then(|| std::time::Duration::from_millis(o.duration_ms)),
        env: o.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        data_files: data_files.iter().map(|f| (f.path.clone(), f.content.to_vec())).collect(),
        hosts: o.hosts.clone(),
        local_ips: (!o.local_ips.is_empty()).then(|| o.local_ips.clone()),
    }
}

/// Interns names so that snapshots from many agents share their keys, and
/// knows the custom metrics the run's plan declares (a series of any other
/// metric is refused).
#[derive(Debug, Default)]
pub struct Interner {
    names: std::collections::HashSet<Arc<str>>,
    tag_sets: std::collections::HashSet<TagSet>,
    metrics: HashMap<Arc<str>, Arc<CustomMetric>>,
}

impl Interner {
    /// Declares the plan's custom metrics (`Plan::metrics`): only their
    /// series are accepted, with their kind.
    pub fn declare_metrics(&mut self, metrics: &[Arc<CustomMetric>]) {
        self.metrics = metrics.iter().map(|m| (m.name.clone(), m.clone())).collect();
    }

    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.names.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.names.insert(a.clone());
        a
    }

    /// A series' custom tags, sorted by key (a peer's order is not trusted).
    pub fn tags(&mut self, tags: &[v1::Tag]) -> TagSet {
        let mut set: Vec<(Arc<str>, Arc<str>)> = tags.iter().map(|t| (self.get(&t.key), self.get(&t.value))).collect();
        set.sort();
        set.dedup_by(|a, b| a.0 == b.0);
        let set: TagSet = Arc::from(set);
        match self.tag_sets.get(&set) {
            Some(s) => s.clone(),
            None => {
                self.tag_sets.insert(set.clone());
                set
            }
        }
    }
}

/// The most one counter of one series may grow by in one interval: 2^40
/// (10^12 requests, or a terabyte, per second and series: beyond any real
/// load generator). A peer that reports more is broken or hostile; bounding
/// it here keeps every later sum (cumulative totals over 2^24 intervals, six
/// months of 1 s intervals) inside `u64`, so no merge downstream can overflow.
pub const MAX_INTERVAL_COUNT: u64 = 1 << 40;

/// Why a wire snapshot was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("series `{series}`, {field}: {source}")]
    Histogram {
        series: String,
        field: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error(
        "series `{series}`: {field} is {value}, more than one interval can hold (at most {MAX_INTERVAL_COUNT}, 2^40)"
    )]
    Implausible { series: String, field: &'static str, value: u64 },
    #[error("custom metric `{metric}`: {what}")]
    ImplausibleMetric { metric: String, what: String },
    #[error("a series of custom metric `{metric}`, which the plan does not declare")]
    UnknownMetric { metric: String },
    #[error("custom metric `{metric}` is a {declared}, but its series holds a {sent}'s value")]
    MetricKind { metric: String, declared: &'static str, sent: &'static str },
}

/// The most a counter's sum may grow by in one interval and series, in
/// thousandths: [`MAX_INTERVAL_COUNT`] units (keeps sums over years of
/// intervals inside `u64`, as for the request counters).
pub const MAX_INTERVAL_SUM: u64 = MAX_INTERVAL_COUNT * SCALE as u64;

/// The latest a gauge's value may have been set: 366 days after the start,
/// in µs (a test lasts at most 365 days).
pub const MAX_GAUGE_AT_US: u64 = 366 * 24 * 3600 * 1_000_000;

/// Checks every counter of `w` against [`MAX_INTERVAL_COUNT`] before anything
/// is merged, so a refused snapshot leaves no counter half-added.
fn check_counters(w: &v1::Snapshot, names: &Interner) -> Result<(), WireError> {
    let check = |series: &dyn Fn() -> String, field: &'static str, value: u64| {
        if value > MAX_INTERVAL_COUNT { Err(WireError::Implausible { series: series(), field, value }) } else { Ok(()) }
    };
    for r in &w.requests {
        let series = || format!("{} {} {} {}", r.scenario, r.name, r.method, r.status);
        for (c, &value) in RequestCounter::ALL.iter().zip(&r.counters) {
            check(&series, c.name(), value)?;
        }
        for &e in &r.errors {
            check(&series, "errors", e)?;
        }
    }
    for sc in &w.scenarios {
        let series = || sc.name.clone();
        for (field, value) in [
            ("iterations", sc.iterations),
            ("dropped_iterations", sc.dropped_iterations),
            ("interrupted_iterations", sc.interrupted_iterations),
            ("vus", sc.vus),
            ("vus_max", sc.vus_max),
        ] {
            check(&series, field, value)?;
        }
    }
    for c in &w.checks {
        let series = || format!("{} {}", c.scenario, c.check);
        check(&series, "passes", c.passes)?;
        check(&series, "fails", c.fails)?;
    }
    for m in &w.metrics {
        check_metric(m, names)?;
    }
    Ok(())
}

/// A custom metric series must name a declared metric, hold that kind's
/// value, and values one interval can hold.
fn check_metric(m: &v1::MetricSeries, names: &Interner) -> Result<(), WireError> {
    use v1::metric_series::Value as W;
    let metric = || m.metric.clone();
    let Some(declared) = names.metrics.get(m.metric.as_str()) else {
        return Err(WireError::UnknownMetric { metric: metric() });
    };
    let implausible = |what: String| Err(WireError::ImplausibleMetric { metric: metric(), what });
    if m.skipped > MAX_INTERVAL_COUNT {
        return implausible(format!("{} samples skipped in one interval", m.skipped));
    }
    let sent = match &m.value {
        None => return Ok(()),
        Some(W::Counter(_)) => MetricKind::Counter,
        Some(W::Gauge(_)) => MetricKind::Gauge,
        Some(W::Rate(_)) => MetricKind::Rate,
        Some(W::Trend(_)) => MetricKind::Trend,
    };
    if sent != declared.kind {
        return Err(WireError::MetricKind { metric: metric(), declared: declared.kind.name(), sent: sent.name() });
    }
    let bound = (MAX_CUSTOM_VALUE * SCALE) as i64;
    match &m.value {
        Some(W::Counter(sum)) if *sum > MAX_INTERVAL_SUM => implausible(format!("a sum of {sum} thousandths")),
        Some(W::Rate(r)) if r.total > MAX_INTERVAL_COUNT || r.trues > r.total => {
            implausible(format!("{} true of {} samples", r.trues, r.total))
        }
        Some(W::Trend(_))
            if m.trend_exact.as_ref().is_some_and(|e| {
                e.min > e.max || e.max > bound as u64 || exact_sum(e) > MAX_INTERVAL_COUNT as u128 * bound as u128
            }) =>
        {
            let e = m.trend_exact.as_ref().map(|e| (e.min, e.max, exact_sum(e)));
            implausible(format!("trend min, max and sum {e:?} (thousandths)"))
        }
        Some(W::Gauge(g))
            if g.min > g.max
                || !(g.min..=g.max).contains(&g.last)
                || g.min < -bound
                || g.max > bound
                || g.at_us > MAX_GAUGE_AT_US =>
        {
            implausible(format!("gauge last {} (min {}, max {}) set at {} µs", g.last, g.min, g.max, g.at_us))
        }
        _ => Ok(()),
    }
}

/// A trend's exact sum from its two halves.
fn exact_sum(e: &v1::TrendExact) -> u128 {
    (e.sum_high as u128) << 64 | e.sum_low as u128
}

/// Decodes a wire snapshot on its own; a malformed histogram or an
/// implausible counter fails the whole snapshot.
pub fn from_wire(w: &v1::Snapshot, names: &mut Interner) -> Result<Snapshot, WireError> {
    let mut s = Snapshot::default();
    merge_wire_into(w, &mut s, names)?;
    Ok(s)
}

/// Adds a wire snapshot straight into `dst`: histograms are decoded into the
/// destination's buckets (no intermediate histograms).
///
/// Counters are checked first ([`MAX_INTERVAL_COUNT`]); a histogram that
/// fails to decode ends the merge where it is, so on that error `dst` holds
/// part of `w` (the caller stops trusting that peer).
pub fn merge_wire_into(w: &v1::Snapshot, dst: &mut Snapshot, names: &mut Interner) -> Result<(), WireError> {
    check_counters(w, names)?;
    merge_wires_into(&[w], dst, names)
}

/// Checks everything [`merge_wires_into`] would reject in a peer's
/// snapshot, without merging it: implausible counters, unknown or
/// mistyped custom metrics, histograms that do not decode. A snapshot that
/// passes merges without error.
pub fn check_wire(w: &v1::Snapshot, names: &Interner) -> Result<(), WireError> {
    check_counters(w, names)?;
    // The series is named only on an error (a name per histogram would cost
    // more than checking it).
    let check = |b: &[u8], series: &dyn Fn() -> String, field: &'static str| {
        hist::validate(b).map_err(|source| WireError::Histogram { series: series(), field, source })
    };
    for r in &w.requests {
        for (t, b) in RequestTrend::ALL.iter().zip(&r.trends) {
            check(b, &|| series_name(r), t.name())?;
        }
    }
    for sc in &w.scenarios {
        for (field, b) in [
            ("iteration_duration", &sc.iteration_duration),
            ("intended_latency", &sc.intended_latency),
            ("scheduling_lag", &sc.scheduling_lag),
        ] {
            check(b, &|| sc.name.clone(), field)?;
        }
    }
    for g in &w.groups {
        check(&g.duration, &|| format!("{} {}", g.scenario, g.group), "group_duration")?;
    }
    for m in &w.metrics {
        if let Some(v1::metric_series::Value::Trend(b)) = &m.value {
            check(b, &|| format!("{} {} {} {}", m.metric, m.scenario, m.name, m.group), "trend")?;
        }
    }
    Ok(())
}

fn series_name(r: &v1::RequestSeries) -> String {
    format!("{} {} {} {}", r.scenario, r.name, r.method, r.status)
}

/// A request series as the wire names it, borrowed: snapshots of many
/// agents are grouped by it before anything is interned.
#[derive(PartialEq, Eq, Hash)]
struct WireKey<'a> {
    scenario: &'a str,
    name: &'a str,
    method: &'a str,
    status: u32,
    group: &'a str,
    tags: &'a [v1::Tag],
}

/// Adds one interval's wire snapshots of many agents into `dst`, series by
/// series: each destination histogram takes every agent's share of it
/// while it is in the CPU's cache. (Agent by agent, each agent's every
/// series touched a different destination histogram in turn, and with
/// hundreds of series the destinations outgrew the cache: a miss per
/// bucket.) Histograms are decoded straight into the destination's buckets,
/// so the cost follows the non-zero buckets that arrive, not their range.
///
/// Counters are not checked here: the caller checked each snapshot with
/// [`check_wire`] (or [`merge_wire_into`] does). A histogram that fails to
/// decode ends the merge where it is.
pub fn merge_wires_into(ws: &[&v1::Snapshot], dst: &mut Snapshot, names: &mut Interner) -> Result<(), WireError> {
    // Which agents hold each series (message, position), in arrival order.
    let mut groups: Vec<Vec<(u32, u32)>> = Vec::new();
    // FxHash, not SipHash: the keys are strings from agents, which hold the
    // run's token; keys crafted to collide would slow this interval's merge
    // (every agent's), never make it wrong.
    let mut index: HashMap<WireKey<'_>, usize, rustc_hash::FxBuildHasher> = HashMap::default();
    for (m, w) in ws.iter().enumerate() {
        for (i, r) in w.requests.iter().enumerate() {
            let key = WireKey {
                scenario: &r.scenario,
                name: &r.name,
                method: &r.method,
                status: r.status,
                group: &r.group,
                tags: &r.tags,
            };
            let next = groups.len();
            let g = *index.entry(key).or_insert(next);
            if g == next {
                groups.push(Vec::with_capacity(ws.len()));
            }
            groups[g].push((m as u32, i as u32));
        }
    }
    let mut acc: [hist::Accumulator; RequestTrend::COUNT] = Default::default();
    for members in &groups {
        let first = &ws[members[0].0 as usize].requests[members[0].1 as usize];
        let key = RequestKey {
            scenario: names.get(&first.scenario),
            name: names.get(&first.name),
            method: method_of(&first.method),
            status: first.status.min(u16::MAX as u32) as u16,
            group: names.get(&first.group),
            tags: names.tags(&first.tags),
        };
        let e = dst.requests.entry(key).or_default();
        let series = |&(m, i): &(u32, u32)| &ws[m as usize].requests[i as usize];
        // More trends or counters than this build knows (a newer peer) are
        // ignored; fewer leave the rest as they are.
        for member in members {
            let r = series(member);
            let bad = |t: RequestTrend| {
                move |source| WireError::Histogram { series: series_name(r), field: t.name(), source }
            };
            for (((t, acc), h), b) in RequestTrend::ALL.iter().zip(&mut acc).zip(&mut e.trends).zip(&r.trends) {
                if members.len() == 1 {
                    hist::decode_into(h, b).map_err(bad(*t))?;
                } else {
                    acc.add(b).map_err(bad(*t))?;
                }
            }
            // Saturating: the bound checked on arrival keeps real sums far
            // from the top, and a sum must never be what panics.
            for (a, b) in e.counters.iter_mut().zip(&r.counters) {
                *a = a.saturating_add(*b);
            }
            // More kinds than this build knows (a newer peer) are ignored, not an index error.
            for (a, b) in e.errors.iter_mut().zip(&r.errors) {
                *a = a.saturating_add(*b);
            }
        }
        for (acc, h) in acc.iter_mut().zip(&mut e.trends) {
            acc.drain_into(h);
        }
    }
    for w in ws {
        merge_rest(w, dst, names)?;
    }
    Ok(())
}

/// Everything of a wire snapshot but its request series.
fn merge_rest(w: &v1::Snapshot, dst: &mut Snapshot, names: &mut Interner) -> Result<(), WireError> {
    use stampede_metrics::hist::decode_into;
    for sc in &w.scenarios {
        let e = dst.scenarios.entry(names.get(&sc.name)).or_default();
        let hist = |field: &'static str| move |source| WireError::Histogram { series: sc.name.clone(), field, source };
        e.iterations = e.iterations.saturating_add(sc.iterations);
        decode_into(&mut e.iteration_duration, &sc.iteration_duration).map_err(hist("iteration_duration"))?;
        e.dropped_iterations = e.dropped_iterations.saturating_add(sc.dropped_iterations);
        e.interrupted_iterations = e.interrupted_iterations.saturating_add(sc.interrupted_iterations);
        decode_into(&mut e.intended_latency, &sc.intended_latency).map_err(hist("intended_latency"))?;
        decode_into(&mut e.scheduling_lag, &sc.scheduling_lag).map_err(hist("scheduling_lag"))?;
        e.vus = e.vus.saturating_add(sc.vus);
        e.vus_max = e.vus_max.saturating_add(sc.vus_max);
    }
    for c in &w.checks {
        let key = CheckKey {
            scenario: names.get(&c.scenario),
            check: names.get(&c.check),
            group: names.get(&c.group),
            tags: names.tags(&c.tags),
        };
        let e = dst.checks.entry(key).or_default();
        e.passes = e.passes.saturating_add(c.passes);
        e.fails = e.fails.saturating_add(c.fails);
    }
    for g in &w.groups {
        let key = GroupKey { scenario: names.get(&g.scenario), group: names.get(&g.group) };
        let e = dst.groups.entry(key).or_insert_with(stampede_metrics::hist::new_histogram);
        decode_into(e, &g.duration).map_err(|source| WireError::Histogram {
            series: format!("{} {}", g.scenario, g.group),
            field: "group_duration",
            source,
        })?;
    }
    for m in &w.metrics {
        merge_metric(m, dst, names)?;
    }
    Ok(())
}

/// Adds a checked custom metric series (see [`check_metric`]) into `dst`.
fn merge_metric(m: &v1::MetricSeries, dst: &mut Snapshot, names: &mut Interner) -> Result<(), WireError> {
    use v1::metric_series::Value as W;
    let Some(declared) = names.metrics.get(m.metric.as_str()).cloned() else {
        return Err(WireError::UnknownMetric { metric: m.metric.clone() });
    };
    let key = MetricKey {
        metric: declared.name.clone(),
        scenario: names.get(&m.scenario),
        name: names.get(&m.name),
        group: names.get(&m.group),
        tags: names.tags(&m.tags),
    };
    let e = dst.metrics.entry(key).or_insert_with(|| MetricStats::new(&declared));
    e.skipped = e.skipped.saturating_add(m.skipped);
    let value = match &m.value {
        None => return Ok(()),
        Some(W::Trend(bytes)) => {
            let err = |source| WireError::Histogram {
                series: format!("{} {} {} {}", m.metric, m.scenario, m.name, m.group),
                field: "trend",
                source,
            };
            if let MetricValue::Trend { hist, exact, .. } = &mut e.value {
                match &m.trend_exact {
                    // Straight into the destination's buckets.
                    Some(w) => {
                        hist::decode_into(hist, bytes).map_err(err)?;
                        exact.merge(&TrendExact { min: w.min, max: w.max, sum: exact_sum(w) });
                    }
                    // An empty histogram: no samples (as everywhere on the wire).
                    None if bytes.is_empty() => {}
                    // A peer that keeps no exact figures: its histogram's stand in.
                    None => {
                        let h = hist::decode(bytes).map_err(err)?;
                        exact.merge(&TrendExact::of_histogram(&h));
                        hist::merge(hist, &h);
                    }
                }
            }
            return Ok(());
        }
        Some(W::Counter(n)) => MetricValue::Counter(*n),
        Some(W::Gauge(g)) => {
            MetricValue::Gauge(Some(GaugeValue { last: g.last, at_us: g.at_us, min: g.min, max: g.max }))
        }
        Some(W::Rate(r)) => MetricValue::Rate { trues: r.trues, total: r.total },
    };
    e.merge(&MetricStats { value, skipped: 0 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::{CacheOutcome, Layout, RequestId, RequestSample, Shard, Timings};

    /// Three "agents" record disjoint samples; their snapshots go through the
    /// wire form and merge; the result equals one histogram of every sample.
    #[test]
    fn merge_over_the_wire_is_exact() {
        let layout = Arc::new(Layout {
            scenarios: vec!["s".into()],
            request_names: vec!["r".into()],
            check_names: vec![],
            groups: vec!["".into()],
            tag_sets: vec![std::sync::Arc::from(Vec::new())],
            metrics: Vec::new(),
        });
        let mut all = hist::new_histogram();
        let mut merged = Snapshot::default();
        let mut direct = Snapshot::default();
        let mut names = Interner::default();
        let mut rng = 12345u64;
        for agent in 0..3 {
            let mut shard = Shard::new(layout.clone());
            for _ in 0..20_000 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let us = 200 + (rng >> 33) % (50_000 * (agent + 1));
                hist::record(&mut all, us);
                let sample = RequestSample {
                    timings: Timings { waiting: us, ..Default::default() },
                    bytes_sent: 10,
                    bytes_received: 20,
                    body_bytes: 5,
                    error: None,
                    cache: CacheOutcome::Unknown,
                };
                shard
                    .request(RequestId { scenario: 0, name: 0, method: Method::Get, status: 200, group: 0, tags: 0 })
                    .record(&sample);
            }
            let wire = to_wire(0, false, &shard.into_snapshot());
            let bytes = prost::Message::encode_to_vec(&wire);
            let back: v1::Snapshot = prost::Message::decode(&bytes[..]).unwrap();
            merged.merge(&from_wire(&back, &mut names).unwrap());
            merge_wire_into(&back, &mut direct, &mut names).unwrap();
        }
        assert_eq!(direct.all_requests().duration().value_at_quantile(0.99), all.value_at_quantile(0.99));
        assert_eq!(direct.all_requests().duration().len(), all.len());
        let merged = merged.all_requests();
        let h = merged.duration();
        assert_eq!(h.len(), all.len());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), all.value_at_quantile(q), "q={q}");
        }
        assert_eq!(h.max(), all.max());
    }

    /// Many agents' snapshots merged series by series (the coordinator's
    /// path) equal, bucket by bucket and counter by counter, the dense merge
    /// of the snapshots themselves; series some agents lack included.
    #[test]
    fn series_by_series_merge_equals_the_dense_merge() {
        let names_of: Vec<Arc<str>> = (0..4).map(|i| format!("r{i}").into()).collect();
        let layout = Arc::new(Layout {
            scenarios: vec!["s".into()],
            request_names: names_of,
            check_names: vec![],
            groups: vec!["".into()],
            tag_sets: vec![std::sync::Arc::from(Vec::new())],
            metrics: Vec::new(),
        });
        let mut dense = Snapshot::default();
        let mut wires = Vec::new();
        let mut rng = 99u64;
        for agent in 0..7u64 {
            let mut shard = Shard::new(layout.clone());
            for i in 0..3_000u64 {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Agent 3 never records name 3; ranges differ per agent
                // (the destination grows as agents arrive).
                let name = ((rng >> 40) % if agent == 3 { 3 } else { 4 }) as u32;
                let us = 1 + (rng >> 20) % (1_000 << (agent * 2));
                let sample = RequestSample {
                    timings: Timings { waiting: us, receiving: us / 7, blocked: i % 3, ..Default::default() },
                    bytes_sent: 10,
                    bytes_received: 20,
                    body_bytes: 5,
                    error: None,
                    cache: CacheOutcome::Hit,
                };
                let status = if i % 5 == 0 { 503 } else { 200 };
                shard
                    .request(RequestId { scenario: 0, name, method: Method::Get, status, group: 0, tags: 0 })
                    .record(&sample);
            }
            let s = shard.into_snapshot();
            dense.merge(&s);
            let bytes = prost::Message::encode_to_vec(&to_wire(0, false, &s));
            wires.push(<v1::Snapshot as prost::Message>::decode(&bytes[..]).unwrap());
        }
        let mut names = Interner::default();
        let mut merged = Snapshot::default();
        for w in &wires {
            check_wire(w, &names).unwrap();
        }
        merge_wires_into(&wires.iter().collect::<Vec<_>>(), &mut merged, &mut names).unwrap();
        assert_eq!(merged.requests.len(), dense.requests.len());
        let buckets =
            |h: &Histogram| h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect::<Vec<_>>();
        for (k, d) in &dense.requests {
            let m = &merged.requests[k];
            assert_eq!(m.counters, d.counters, "{k:?}");
            for (t, (hm, hd)) in RequestTrend::ALL.iter().zip(m.trends.iter().zip(&d.trends)) {
                assert_eq!(buckets(hm), buckets(hd), "{k:?} {}", t.name());
                assert_eq!((hm.len(), hm.max(), hm.min()), (hd.len(), hd.max(), hd.min()));
            }
        }
    }

    /// Three agents' custom metric series through the wire merge into what
    /// their shards merged directly hold: counters and rates exactly, trends
    /// bucket by bucket, the latest gauge.
    #[test]
    fn custom_metrics_over_the_wire_are_exact_and_checked() {
        use stampede_metrics::MetricId;
        use stampede_scenario::threshold::{CustomMetric, MetricKind};
        let metric = |name: &str, kind| Arc::new(CustomMetric { name: name.into(), kind, time: false });
        let metrics = vec![
            metric("c", MetricKind::Counter),
            metric("g", MetricKind::Gauge),
            metric("r", MetricKind::Rate),
            metric("t", MetricKind::Trend),
        ];
        let layout =
            Arc::new(Layout { metrics: metrics.clone(), ..Layout::plain(vec!["s".into()], vec!["n".into()], vec![]) });
        let mut names = Interner::default();
        names.declare_metrics(&metrics);
        let (mut direct, mut wired) = (Snapshot::default(), Snapshot::default());
        let mut wires = Vec::new();
        for agent in 0..3u64 {
            let mut shard = Shard::new(layout.clone());
            for i in 0..1000u64 {
                let id = |metric| MetricId { metric, scenario: 0, name: 0, group: 0, tags: 0 };
                shard.record_metric(id(0), Some(1.0), 0);
                shard.record_metric(id(1), Some(i as f64 - agent as f64), i * 3 + agent);
                shard.record_metric(id(2), Some((i % 3) as f64), 0);
                shard.record_metric(id(3), Some((i * 7 + agent) as f64 / 3.0), 0);
            }
            shard.record_metric(MetricId { metric: 3, scenario: 0, name: 0, group: 0, tags: 0 }, None, 0);
            let snap = shard.into_snapshot();
            direct.merge(&snap);
            let w: v1::Snapshot =
                prost::Message::decode(&prost::Message::encode_to_vec(&to_wire(0, false, &snap))[..]).unwrap();
            merge_wire_into(&w, &mut wired, &mut names).unwrap();
            wires.push(w);
        }
        assert_eq!(wired.metrics, direct.metrics);
        assert_eq!(wired.custom(&metrics[0], &[]).value, MetricValue::Counter(3_000_000));
        let gauge = wired.custom(&metrics[1], &[]).value;
        assert!(matches!(gauge, MetricValue::Gauge(Some(GaugeValue { last: 997_000, at_us: 2999, .. }))), "{gauge:?}");
        assert_eq!(wired.custom(&metrics[3], &[]).skipped, 3);

        // What the plan does not declare, or declares as another kind, is refused
        // before anything is merged; so are values no interval can hold.
        let refused = |edit: &dyn Fn(&mut v1::MetricSeries), want: &str| {
            let mut w = wires[0].clone();
            for m in &mut w.metrics {
                edit(m);
            }
            let mut dst = Snapshot::default();
            let err =
                merge_wire_into(&w, &mut dst, &mut Interner { metrics: names.metrics.clone(), ..Default::default() })
                    .unwrap_err()
                    .to_string();
            assert!(err.contains(want), "{err}");
            assert!(dst.requests.is_empty() && dst.metrics.is_empty(), "nothing merged");
        };
        use v1::metric_series::Value as W;
        refused(&|m| m.metric = "orders".into(), "custom metric `orders`, which the plan does not declare");
        refused(&|m| m.value = Some(W::Counter(1)), "holds a counter's value");
        refused(&|m| m.skipped = u64::MAX, "samples skipped in one interval");
        refused(
            &|m| {
                if let Some(W::Counter(n)) = &mut m.value {
                    *n = u64::MAX
                }
                if let Some(W::Gauge(g)) = &mut m.value {
                    g.max = i64::MAX
                }
                if let Some(W::Rate(r)) = &mut m.value {
                    r.trues = r.total + 1
                }
            },
            "custom metric `",
        );
        assert!(
            merge_wire_into(&wires[0], &mut Snapshot::default(), &mut Interner::default()).is_err(),
            "no plan, no metric"
        );
    }

    /// A trend of 10, 20, 30, 40, 50 split over two agents: after the wire,
    /// max is exactly 50, avg exactly 30, p(90) and p(100) inside them, as
    /// k6 reports; a peer that sends no exact figures still merges.
    #[test]
    fn custom_trends_stay_exact_over_the_wire() {
        use stampede_metrics::{MetricId, TrendStats, Value};
        use stampede_scenario::threshold::{Metric, MetricKind};
        let metrics = vec![Arc::new(CustomMetric { name: "t".into(), kind: MetricKind::Trend, time: false })];
        let layout = Arc::new(Layout { metrics: metrics.clone(), ..Layout::plain(vec!["s".into()], vec![], vec![]) });
        let mut names = Interner::default();
        names.declare_metrics(&metrics);
        let id = MetricId { metric: 0, scenario: 0, name: MetricId::NO_NAME, group: 0, tags: 0 };
        let wire_of = |values: &[f64]| {
            let mut shard = Shard::new(layout.clone());
            for v in values {
                shard.record_metric(id, Some(*v), 0);
            }
            let w = to_wire(0, false, &shard.into_snapshot());
            prost::Message::decode(&prost::Message::encode_to_vec(&w)[..]).unwrap()
        };
        let (a, b): (v1::Snapshot, v1::Snapshot) = (wire_of(&[10.0, 30.0, 50.0]), wire_of(&[20.0, 40.0]));
        let mut merged = Snapshot::default();
        merge_wire_into(&a, &mut merged, &mut names).unwrap();
        merge_wire_into(&b, &mut merged, &mut names).unwrap();
        let stats = |snap: &Snapshot| {
            let Value::Trend { hist, exact } = snap.query(&Metric::Custom(metrics[0].clone()), &[]) else { panic!() };
            TrendStats::of_exact(&hist, exact.as_ref())
        };
        let s = stats(&merged);
        assert_eq!((s.count, s.min, s.mean, s.max), (5, 10.0, 30.0, 50.0));
        assert!(s.p90 <= 50.0 && s.p99 == 50.0, "{s:?}");
        let MetricValue::Trend { exact, .. } = &merged.custom(&metrics[0], &[]).value else { panic!() };
        assert_eq!(*exact, TrendExact { min: 10_000, max: 50_000, sum: 150_000 });

        // A sum past 2^64 thousandths crosses the wire whole.
        let big = wire_of(&[1e12; 20]);
        let mut snap = Snapshot::default();
        merge_wire_into(&big, &mut snap, &mut names).unwrap();
        let MetricValue::Trend { exact, .. } = &snap.custom(&metrics[0], &[]).value else { panic!() };
        assert_eq!(exact.sum, 20 * 1_000_000_000_000_000u128);

        // An older peer (no exact figures): its histogram's stand in.
        let mut old = b.clone();
        old.metrics[0].trend_exact = None;
        let mut mixed = Snapshot::default();
        merge_wire_into(&a, &mut mixed, &mut names).unwrap();
        merge_wire_into(&old, &mut mixed, &mut names).unwrap();
        let s = stats(&mixed);
        assert_eq!((s.count, s.min, s.max), (5, 10.0, 50.0), "the exact agent's extremes");
        assert!((s.mean - 30.0).abs() < 0.05, "{s:?}");

        // Figures no sample could give are refused.
        let mut bad = a.clone();
        bad.metrics[0].trend_exact.as_mut().unwrap().min = 60_000;
        assert!(merge_wire_into(&bad, &mut Snapshot::default(), &mut names).is_err());
    }

    /// Check series keep their group and tags across the wire, so a
    /// coordinator's thresholds select them as the agent recorded them.
    #[test]
    fn check_tags_and_groups_cross_the_wire() {
        let tags: TagSet = Arc::from(vec![(Arc::from("area"), Arc::from("account"))]);
        let layout = Arc::new(Layout {
            groups: vec!["".into(), "::login".into()],
            tag_sets: vec![Arc::from(Vec::new()), tags.clone()],
            ..Layout::plain(vec!["s".into()], vec![], vec!["ok".into()])
        });
        let mut shard = Shard::new(layout);
        shard.check_tagged(0, 0, 1, 1, true);
        shard.check_tagged(0, 0, 0, 0, false);
        let snap = shard.into_snapshot();
        let w: v1::Snapshot =
            prost::Message::decode(&prost::Message::encode_to_vec(&to_wire(0, false, &snap))[..]).unwrap();
        let back = from_wire(&w, &mut Interner::default()).unwrap();
        assert_eq!(back.checks, snap.checks);
        let key = CheckKey { scenario: "s".into(), check: "ok".into(), group: "::login".into(), tags };
        assert_eq!(back.checks[&key].passes, 1);
        assert_eq!(back.checks[&CheckKey::plain("s".into(), "ok".into())].fails, 1);
    }
}
