//! Snapshots: measurements keyed by names, so they merge exactly across
//! workers, agents and intervals; and queries over them with k6 selectors.

use std::collections::BTreeMap;
use std::sync::Arc;

use stampede_scenario::TagSet;
use stampede_scenario::threshold::{CustomMetric, Metric, MetricKind};

use crate::custom::{MetricKey, MetricStats, MetricValue, TrendExact, from_fixed};
use crate::hist::{Histogram, merge, new_histogram};
use crate::shard::{CheckCounts, Method, RequestStats, ScenarioStats};

/// Identity of a request series across processes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    pub scenario: Arc<str>,
    pub name: Arc<str>,
    pub method: Method,
    /// 0 when no response was received.
    pub status: u16,
    /// k6's `group` tag: `""` (root), `::checkout`, `::checkout::payment`.
    pub group: Arc<str>,
    /// Custom tags, sorted by key.
    pub tags: TagSet,
}

impl RequestKey {
    /// A key outside any group and without custom tags.
    pub fn plain(scenario: Arc<str>, name: Arc<str>, method: Method, status: u16) -> RequestKey {
        RequestKey { scenario, name, method, status, group: "".into(), tags: Arc::from(Vec::new()) }
    }

    /// The value of a custom tag of this series.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
}

/// Identity of a `group_duration` series: one group of one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub scenario: Arc<str>,
    pub group: Arc<str>,
}

/// Identity of a check series across processes: k6 tags check samples
/// with the group and with the check's own tags (the script's
/// `check(res, {...}, tags)`, the scenario's and the run's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckKey {
    pub scenario: Arc<str>,
    pub check: Arc<str>,
    /// k6's `group` tag: `""` (root), `::checkout`.
    pub group: Arc<str>,
    /// Custom tags, sorted by key.
    pub tags: TagSet,
}

impl CheckKey {
    /// A check outside any group and without custom tags.
    pub fn plain(scenario: Arc<str>, check: Arc<str>) -> CheckKey {
        CheckKey { scenario, check, group: "".into(), tags: Arc::from(Vec::new()) }
    }

    /// The value of a custom tag of this series.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }
}

/// Measurements of one interval (or, accumulated, of a whole run).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub requests: BTreeMap<RequestKey, RequestStats>,
    pub scenarios: BTreeMap<Arc<str>, ScenarioStats>,
    pub checks: BTreeMap<CheckKey, CheckCounts>,
    /// k6's `group_duration`, µs, per scenario and group (empty without groups).
    pub groups: BTreeMap<GroupKey, Histogram>,
    /// Custom metric series (empty without `[metrics.NAME]`).
    pub metrics: BTreeMap<MetricKey, MetricStats>,
}

impl Snapshot {
    /// Adds a snapshot of the same interval from another source: everything
    /// adds, gauges included.
    pub fn merge(&mut self, o: &Snapshot) {
        for (k, v) in &o.requests {
            match self.requests.get_mut(k) {
                Some(s) => s.merge(v),
                None => {
                    self.requests.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in &o.scenarios {
            match self.scenarios.get_mut(k) {
                Some(s) => s.merge(v),
                None => {
                    self.scenarios.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in &o.checks {
            let e = self.checks.entry(k.clone()).or_default();
            e.passes += v.passes;
            e.fails += v.fails;
        }
        for (k, v) in &o.groups {
            match self.groups.get_mut(k) {
                Some(h) => merge(h, v),
                None => {
                    self.groups.insert(k.clone(), v.clone());
                }
            }
        }
        for (k, v) in &o.metrics {
            match self.metrics.get_mut(k) {
                Some(s) => s.merge(v),
                None => {
                    self.metrics.insert(k.clone(), v.clone());
                }
            }
        }
    }

    /// Adds a later interval into a cumulative snapshot: counters and
    /// histograms add; gauges take the later value (`vus_max` the larger;
    /// custom gauges order their values by time anyway).
    pub fn accumulate(&mut self, later: &Snapshot) {
        let gauges: Vec<(Arc<str>, u64, u64)> =
            later.scenarios.iter().map(|(k, s)| (k.clone(), s.vus, s.vus_max)).collect();
        let before: Vec<(Arc<str>, u64)> = self.scenarios.iter().map(|(k, s)| (k.clone(), s.vus_max)).collect();
        self.merge(later);
        for (k, vus, vus_max) in gauges {
            if let Some(s) = self.scenarios.get_mut(&k) {
                s.vus = vus;
                let prev = before.iter().find(|(n, _)| *n == k).map(|(_, m)| *m).unwrap_or(0);
                s.vus_max = prev.max(vus_max);
            }
        }
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().map(|r| r.count()).sum()
    }

    pub fn total_failed(&self) -> u64 {
        self.requests.values().map(|r| r.failed()).sum()
    }

    pub fn vus(&self) -> u64 {
        self.scenarios.values().map(|s| s.vus).sum()
    }

    pub fn vus_max(&self) -> u64 {
        self.scenarios.values().map(|s| s.vus_max).sum()
    }

    pub fn iterations(&self) -> u64 {
        self.scenarios.values().map(|s| s.iterations).sum()
    }

    /// Evaluates a metric over the series matching `tags`.
    pub fn query(&self, metric: &Metric, tags: &[(Arc<str>, Arc<str>)]) -> Value {
        if let Metric::Custom(c) = metric {
            return self.query_custom(c, tags);
        }
        match metric.kind() {
            MetricKind::Trend => {
                let mut h = new_histogram();
                let mut any = false;
                match metric {
                    Metric::GroupDuration => {
                        for (_, src) in self.groups.iter().filter(|(k, _)| group_matches(k, tags)) {
                            any |= !src.is_empty();
                            merge(&mut h, src);
                        }
                    }
                    Metric::IterationDuration | Metric::IntendedLatency | Metric::SchedulingLag => {
                        for (name, s) in self.scenarios.iter().filter(|(n, _)| scenario_matches(n, tags)) {
                            let _ = name;
                            let src = match metric {
                                Metric::IterationDuration => &s.iteration_duration,
                                Metric::IntendedLatency => &s.intended_latency,
                                _ => &s.scheduling_lag,
                            };
                            any |= !src.is_empty();
                            merge(&mut h, src);
                        }
                    }
                    _ => {
                        for (_, s) in self.requests.iter().filter(|(k, _)| request_matches(k, tags)) {
                            if let Some(src) = s.trend(metric) {
                                any |= !src.is_empty();
                                merge(&mut h, src);
                            }
                        }
                    }
                }
                if any { Value::Trend { hist: Box::new(h), exact: None } } else { Value::Empty }
            }
            MetricKind::Rate => {
                let (num, den) = match metric {
                    Metric::HttpReqFailed => self.sum_requests(tags, |r| (r.failed(), r.count())),
                    Metric::CdnCacheHitRatio => {
                        self.sum_requests(tags, |r| (r.cdn_hits(), r.cdn_hits() + r.cdn_misses()))
                    }
                    _ => {
                        // checks
                        self.checks
                            .iter()
                            .filter(|(k, _)| check_matches(k, tags))
                            .fold((0, 0), |(n, d), (_, c)| (n + c.passes, d + c.passes + c.fails))
                    }
                };
                if den == 0 { Value::Empty } else { Value::Rate { trues: num, total: den } }
            }
            MetricKind::Counter => {
                let n = match metric {
                    Metric::HttpReqs => self.sum_requests(tags, |r| (r.count(), 0)).0,
                    Metric::DataSent => self.sum_requests(tags, |r| (r.data_sent(), 0)).0,
                    Metric::DataReceived => self.sum_requests(tags, |r| (r.data_received(), 0)).0,
                    Metric::Iterations => self.sum_scenarios(tags, |s| s.iterations),
                    _ => self.sum_scenarios(tags, |s| s.dropped_iterations),
                };
                Value::Counter(n as f64)
            }
            MetricKind::Gauge => {
                let n = match metric {
                    Metric::Vus => self.sum_scenarios(tags, |s| s.vus),
                    _ => self.sum_scenarios(tags, |s| s.vus_max),
                } as f64;
                Value::Gauge { last: n, min: n, max: n }
            }
        }
    }

    /// A custom metric over its series matching `tags`, merged: everything
    /// about it, including the samples skipped.
    pub fn custom(&self, metric: &CustomMetric, tags: &[(Arc<str>, Arc<str>)]) -> MetricStats {
        let mut out = MetricStats::new(metric);
        for (_, s) in self.metrics.iter().filter(|(k, _)| *k.metric == *metric.name && k.matches(tags)) {
            out.merge(s);
        }
        out
    }

    /// The custom metric series merged by a key of theirs: `|k| &*k.metric`
    /// gives one entry per metric, `|k| (&*k.metric, &*k.scenario)` one per
    /// metric and scenario.
    pub fn custom_by<'a, K: Ord>(&'a self, key: impl Fn(&'a MetricKey) -> K) -> BTreeMap<K, MetricStats> {
        let mut out: BTreeMap<K, MetricStats> = BTreeMap::new();
        for (k, m) in &self.metrics {
            match out.entry(key(k)) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(m),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(m.clone());
                }
            }
        }
        out
    }

    fn query_custom(&self, metric: &CustomMetric, tags: &[(Arc<str>, Arc<str>)]) -> Value {
        match self.custom(metric, tags).value {
            // As built-in counters: 0 when nothing was added.
            MetricValue::Counter(sum) => Value::Counter(sum as f64 / crate::custom::SCALE),
            MetricValue::Gauge(Some(g)) => {
                Value::Gauge { last: from_fixed(g.last), min: from_fixed(g.min), max: from_fixed(g.max) }
            }
            MetricValue::Rate { trues, total } if total > 0 => Value::Rate { trues, total },
            MetricValue::Trend { hist, exact, .. } if !hist.is_empty() => {
                Value::Trend { hist: Box::new(hist), exact: Some(exact) }
            }
            _ => Value::Empty,
        }
    }

    fn sum_requests(&self, tags: &[(Arc<str>, Arc<str>)], f: impl Fn(&RequestStats) -> (u64, u64)) -> (u64, u64) {
        self.requests.iter().filter(|(k, _)| request_matches(k, tags)).fold((0, 0), |(a, b), (_, r)| {
            let (x, y) = f(r);
            (a + x, b + y)
        })
    }

    fn sum_scenarios(&self, tags: &[(Arc<str>, Arc<str>)], f: impl Fn(&ScenarioStats) -> u64) -> u64 {
        self.scenarios.iter().filter(|(n, _)| scenario_matches(n, tags)).map(|(_, s)| f(s)).sum()
    }

    /// Distinct request names, in order.
    pub fn request_names(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.requests.keys().map(|k| k.name.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// All requests of one name merged (every scenario, method and status).
    pub fn by_name(&self, name: &str) -> RequestStats {
        let mut out = RequestStats::default();
        for (_, r) in self.requests.iter().filter(|(k, _)| &*k.name == name) {
            out.merge(r);
        }
        out
    }

    /// All requests merged.
    pub fn all_requests(&self) -> RequestStats {
        let mut out = RequestStats::default();
        for r in self.requests.values() {
            out.merge(r);
        }
        out
    }
}

fn tag_is(tags: &[(Arc<str>, Arc<str>)], key: &str, value: &str) -> bool {
    tags.iter().filter(|(k, _)| &**k == key).all(|(_, v)| &**v == value)
}

fn request_matches(k: &RequestKey, tags: &[(Arc<str>, Arc<str>)]) -> bool {
    tags.iter().all(|(key, v)| match &**key {
        "name" => *v == k.name,
        "scenario" => *v == k.scenario,
        "method" => v.eq_ignore_ascii_case(k.method.as_str()),
        "status" => v.parse::<u16>().ok() == Some(k.status),
        "group" => *v == k.group,
        custom => k.tag(custom) == Some(&**v),
    })
}

/// `group_duration` carries the scenario and group tags only.
fn group_matches(k: &GroupKey, tags: &[(Arc<str>, Arc<str>)]) -> bool {
    tags.iter().all(|(key, v)| match &**key {
        "scenario" => *v == k.scenario,
        "group" => *v == k.group,
        _ => false,
    })
}

fn scenario_matches(name: &Arc<str>, tags: &[(Arc<str>, Arc<str>)]) -> bool {
    tags.iter().all(|(k, _)| &**k == "scenario") && tag_is(tags, "scenario", name)
}

/// Checks carry the scenario, check, group and custom tags, as k6's do.
fn check_matches(k: &CheckKey, tags: &[(Arc<str>, Arc<str>)]) -> bool {
    tags.iter().all(|(key, v)| match &**key {
        "scenario" => *v == k.scenario,
        "check" => *v == k.check,
        "group" => *v == k.group,
        // k6 tags checks with the request name too; ours are named "NAME: ...",
        // unless the check's own tags give a name.
        "name" => match k.tag("name") {
            Some(name) => name == &**v,
            None => k.check.starts_with(&**v) && k.check[v.len()..].starts_with(':'),
        },
        custom => k.tag(custom) == Some(&**v),
    })
}

/// The value of a metric over a selection of series.
#[derive(Debug, Clone)]
pub enum Value {
    /// No sample matched.
    Empty,
    /// `exact`: a custom trend's exact extremes and sum (built-in trends,
    /// µs integers, have none: their histogram is all there is).
    Trend {
        hist: Box<Histogram>,
        exact: Option<TrendExact>,
    },
    Rate {
        trues: u64,
        total: u64,
    },
    /// A count or sum (custom counters may add fractions).
    Counter(f64),
    /// The last value set and the extremes (a built-in gauge's are its value).
    Gauge {
        last: f64,
        min: f64,
        max: f64,
    },
}

impl Value {
    pub fn is_empty(&self) -> bool {
        matches!(self, Value::Empty)
    }
}
