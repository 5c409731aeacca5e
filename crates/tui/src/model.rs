//! The figures a frame shows, read out of [`LiveState`] while its lock is held
//! and drawn after it is released.
//!
//! What comes from the run's snapshots (per-request percentiles, error
//! counts, chart series) changes only when the run loop folds in an interval,
//! so it is recomputed only when the state's [`Stamp`] moves; at 10 frames/s
//! most frames copy a few scalars, the agents and the recent events.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::hist::{merge, new_histogram};
use stampede_metrics::live::{AgentInfo, LiveState, Phase, Point, StageInfo};
use stampede_metrics::{ErrorKind, Histogram, MetricValue, Snapshot, ThresholdOutcome};

/// Percentiles of a request's latency distribution (Requests view).
pub const DISTRIBUTION: [(f64, &str); 7] =
    [(0.50, "p50"), (0.75, "p75"), (0.90, "p90"), (0.95, "p95"), (0.99, "p99"), (0.999, "p99.9"), (0.9999, "p99.99")];

/// Chart points drawn per series (one more while the run's latest point is
/// being filled); longer runs are bucketed, keeping each bucket's worst value
/// so a short spike stays visible.
pub const CHART_POINTS: usize = 480;

/// Events kept for the Errors view.
pub const EVENTS: usize = 50;

/// Identifies the snapshot-derived content of a [`LiveState`]: it changes
/// whenever `push_interval` ran or the cumulative totals were replaced.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    elapsed: Duration,
    points: usize,
    last_t: Option<Duration>,
    series: usize,
    requests: u64,
}

impl Stamp {
    fn of(s: &LiveState) -> Stamp {
        Stamp {
            elapsed: s.elapsed,
            points: s.chart().len(),
            last_t: s.now.map(|p| p.t),
            series: s.total.requests.len(),
            requests: s.total.total_requests(),
        }
    }
}

/// Latency and outcome figures of one request series over one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub count: u64,
    pub failed: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// `None` without requests.
    pub error_rate: Option<f64>,
    /// By count; `None` when no response was classified hit or miss.
    pub cdn_hit: Option<f64>,
    /// Milliseconds at each of [`DISTRIBUTION`], then the max.
    pub distribution: [f64; DISTRIBUTION.len() + 1],
}

impl Figures {
    fn of(r: &ByName) -> Figures {
        let h = &*r.duration;
        let q = |p: f64| stampede_metrics::hist::quantile_ms(h, p);
        let mut distribution = [0.0; DISTRIBUTION.len() + 1];
        for (d, (p, _)) in distribution.iter_mut().zip(DISTRIBUTION) {
            *d = q(p);
        }
        let max = if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 };
        distribution[DISTRIBUTION.len()] = max;
        let classified = r.cdn_hits + r.cdn_misses;
        Figures {
            count: r.count,
            failed: r.failed,
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            max,
            error_rate: (r.count > 0).then(|| r.failed as f64 / r.count as f64),
            cdn_hit: (classified > 0).then(|| r.cdn_hits as f64 / classified as f64),
            distribution,
        }
    }
}

/// The series of one request name merged over scenarios, methods and
/// statuses: what [`Snapshot::by_name`] gives, but it merges only the
/// latency histogram the figures need, and only when the name has more than
/// one series (a single series is read in place).
struct ByName<'a> {
    count: u64,
    failed: u64,
    cdn_hits: u64,
    cdn_misses: u64,
    errors: [u64; ErrorKind::COUNT],
    duration: Cow<'a, Histogram>,
}

impl<'a> ByName<'a> {
    fn empty() -> ByName<'a> {
        ByName {
            count: 0,
            failed: 0,
            cdn_hits: 0,
            cdn_misses: 0,
            errors: [0; ErrorKind::COUNT],
            duration: Cow::Owned(new_histogram()),
        }
    }
}

fn by_name(snap: &Snapshot) -> BTreeMap<Arc<str>, ByName<'_>> {
    let mut out: BTreeMap<Arc<str>, ByName> = BTreeMap::new();
    for (key, r) in &snap.requests {
        let e = out.entry(key.name.clone()).or_insert_with(|| ByName {
            count: 0,
            failed: 0,
            cdn_hits: 0,
            cdn_misses: 0,
            errors: [0; ErrorKind::COUNT],
            duration: Cow::Borrowed(r.duration()),
        });
        // The first series of a name is borrowed, not merged into itself.
        if !std::ptr::eq(&*e.duration, r.duration()) {
            merge(e.duration.to_mut(), r.duration());
        }
        e.count += r.count();
        e.failed += r.failed();
        e.cdn_hits += r.cdn_hits();
        e.cdn_misses += r.cdn_misses();
        for (a, b) in e.errors.iter_mut().zip(r.errors) {
            *a += b;
        }
    }
    out
}

/// One row of the Requests table: a request name over every scenario,
/// method and status.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRow {
    pub name: Arc<str>,
    /// Requests per second in the last interval.
    pub rps: f64,
    /// The whole run so far.
    pub run: Figures,
    /// The last interval only.
    pub interval: Figures,
    /// Errors of the whole run by [`ErrorKind::index`].
    pub errors: [u64; ErrorKind::COUNT],
    /// Errors of the last interval by [`ErrorKind::index`].
    pub interval_errors: [u64; ErrorKind::COUNT],
}

/// Over-time chart series as `(seconds, value)`.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub rps: Vec<(f64, f64)>,
    /// Percent.
    pub error_pct: Vec<(f64, f64)>,
    pub p50: Vec<(f64, f64)>,
    pub p95: Vec<(f64, f64)>,
    pub p99: Vec<(f64, f64)>,
}

impl Series {
    fn of<'a>(points: impl ExactSizeIterator<Item = &'a Point>) -> Series {
        // Sized without the last point, the one being filled, so that it
        // coming and going does not shift every bucket (the chart would flicker).
        let n = points.len().saturating_sub(1);
        let per_bucket = n.div_ceil(CHART_POINTS).max(1);
        let mut s = Series::default();
        let mut bucket: Option<Point> = None;
        let mut in_bucket = 0;
        let flush = |s: &mut Series, p: &Point| {
            let t = p.t.as_secs_f64();
            s.rps.push((t, p.rps));
            s.error_pct.push((t, p.error_rate * 100.0));
            s.p50.push((t, p.p50_ms));
            s.p95.push((t, p.p95_ms));
            s.p99.push((t, p.p99_ms));
        };
        for p in points {
            bucket = Some(match bucket {
                None => *p,
                Some(b) => Point {
                    t: p.t,
                    rps: b.rps.max(p.rps),
                    error_rate: b.error_rate.max(p.error_rate),
                    p50_ms: b.p50_ms.max(p.p50_ms),
                    p95_ms: b.p95_ms.max(p.p95_ms),
                    p99_ms: b.p99_ms.max(p.p99_ms),
                    ..*p
                },
            });
            in_bucket += 1;
            if in_bucket == per_bucket {
                flush(&mut s, &bucket.take().unwrap_or(*p));
                in_bucket = 0;
            }
        }
        if let Some(b) = bucket {
            flush(&mut s, &b);
        }
        s
    }
}

/// A custom metric (`[metrics.NAME]`) over the whole run, as the Overview
/// lists it: `orders 42`, `server_time p95 12.3ms`, `cart_not_empty 93.1%`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomFigure {
    pub name: String,
    /// The figure in the metric's unit; `-` while it has no value.
    pub value: String,
}

/// One figure per custom metric, by name, every series merged.
fn custom_figures(total: &Snapshot) -> Vec<CustomFigure> {
    use stampede_metrics::custom::{SCALE, from_fixed};
    let by = total.custom_by(|k| &*k.metric);
    // Exact while short (counts are usually whole), then `12.3k`.
    let number = |v: f64| match v.abs() {
        a if a >= 1e6 => crate::fmt::num(v),
        _ if v.fract() == 0.0 => format!("{}", v as i64),
        _ => format!("{v:.2}"),
    };
    by.into_iter()
        .map(|(name, m)| {
            let value = match &m.value {
                MetricValue::Counter(sum) => number(*sum as f64 / SCALE),
                MetricValue::Gauge(Some(g)) => number(from_fixed(g.last)),
                MetricValue::Rate { trues, total } if *total > 0 => crate::fmt::pct(*trues as f64 / *total as f64),
                MetricValue::Trend { hist, time, exact } if !hist.is_empty() => {
                    let p95 = exact.quantile(hist, 0.95) as f64 / SCALE;
                    format!("p95 {}", if *time { crate::fmt::ms(p95) } else { crate::fmt::num(p95) })
                }
                _ => "-".to_string(),
            };
            CustomFigure { name: name.to_string(), value }
        })
        .collect()
}

/// Whole-run totals for the Overview.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub failed: u64,
    pub iterations: u64,
    pub data_in: u64,
    pub data_out: u64,
    pub cdn_hit: Option<f64>,
    pub cdn_hit_bytes: Option<f64>,
    /// VUs allocated at most so far (`vus_max`).
    pub vus_max: u64,
    /// Errors of the whole run by [`ErrorKind::index`].
    pub errors: [u64; ErrorKind::COUNT],
    pub interval_errors: [u64; ErrorKind::COUNT],
}

/// Everything one frame draws. Built by [`Model::read`] under the lock.
#[derive(Debug, Clone)]
pub struct Model {
    stamp: Option<Stamp>,
    pub scenario_file: String,
    pub scenario_names: Vec<String>,
    pub phase: Phase,
    pub paused: bool,
    pub planned: Duration,
    pub elapsed: Duration,
    pub stages: Vec<StageInfo>,
    pub vus_max_planned: u64,
    /// The latest chart point (the "now" figures).
    pub now: Option<Point>,
    pub totals: Totals,
    pub series: Series,
    pub rows: Vec<RequestRow>,
    /// Custom metrics, by name (empty without `[metrics.NAME]`).
    pub custom: Vec<CustomFigure>,
    pub thresholds: Vec<ThresholdOutcome>,
    pub agents: Vec<AgentInfo>,
    /// How the coordinator keeps up (distributed runs).
    pub coordination: Option<stampede_metrics::live::Coordination>,
    /// Newest last.
    pub events: Vec<(Duration, String)>,
    /// When the state was read (heartbeat ages are relative to it).
    pub read_at: Instant,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            stamp: None,
            scenario_file: String::new(),
            scenario_names: Vec::new(),
            phase: Phase::Starting,
            paused: false,
            planned: Duration::ZERO,
            elapsed: Duration::ZERO,
            stages: Vec::new(),
            vus_max_planned: 0,
            now: None,
            totals: Totals::default(),
            series: Series::default(),
            rows: Vec::new(),
            custom: Vec::new(),
            thresholds: Vec::new(),
            agents: Vec::new(),
            coordination: None,
            events: Vec::new(),
            read_at: Instant::now(),
        }
    }
}

impl Model {
    /// Reads everything from scratch.
    pub fn of(state: &LiveState) -> Model {
        let mut m = Model::default();
        m.read(state);
        m
    }

    /// Refreshes from `state`; the snapshot-derived parts only when the
    /// state folded in a new interval since the last read. Returns whether
    /// anything a frame shows changed (the UI draws only then), copying only
    /// what did.
    pub fn read(&mut self, state: &LiveState) -> bool {
        self.read_at = Instant::now();
        let mut changed = false;
        fn follow<T: PartialEq + Clone>(mine: &mut T, theirs: &T, changed: &mut bool) {
            if mine != theirs {
                mine.clone_from(theirs);
                *changed = true;
            }
        }
        follow(&mut self.scenario_file, &state.scenario_file, &mut changed);
        follow(&mut self.scenario_names, &state.scenario_names, &mut changed);
        follow(&mut self.phase, &state.phase, &mut changed);
        follow(&mut self.paused, &state.paused, &mut changed);
        follow(&mut self.planned, &state.planned, &mut changed);
        follow(&mut self.elapsed, &state.elapsed, &mut changed);
        follow(&mut self.stages, &state.stages, &mut changed);
        follow(&mut self.vus_max_planned, &state.vus_max_planned, &mut changed);
        follow(&mut self.thresholds, &state.thresholds, &mut changed);
        // A heartbeat alone is no reason to draw (it arrives several times a
        // second); the Agents view redraws its ages every second anyway.
        if self.agents.len() == state.agents.len()
            && self.agents.iter().zip(&state.agents).all(|(a, b)| same_but_heartbeat(a, b))
        {
            for (a, b) in self.agents.iter_mut().zip(&state.agents) {
                a.last_heartbeat = b.last_heartbeat;
            }
        } else {
            self.agents.clone_from(&state.agents);
            self.coordination.clone_from(&state.coordination);
            changed = true;
        }
        let skip = state.events.len().saturating_sub(EVENTS);
        if !self.events.iter().eq(state.events.iter().skip(skip)) {
            self.events.clear();
            self.events.extend(state.events.iter().skip(skip).cloned());
            changed = true;
        }

        let stamp = Stamp::of(state);
        if self.stamp == Some(stamp) {
            return changed;
        }
        self.stamp = Some(stamp);
        self.now = state.now;
        self.series = Series::of(state.chart());
        self.rows = rows(&state.total, &state.last_interval, state.last_interval_secs);
        self.totals = totals(&state.total, &self.rows);
        self.custom = custom_figures(&state.total);
        true
    }
}

/// Whether two agent rows differ only in their last heartbeat.
fn same_but_heartbeat(a: &AgentInfo, b: &AgentInfo) -> bool {
    let AgentInfo { name, address, state, vus, rps, lag_p99_ms, cpu_percent, last_heartbeat: _, requests } = a;
    *name == b.name
        && *address == b.address
        && *state == b.state
        && *vus == b.vus
        && *rps == b.rps
        && *lag_p99_ms == b.lag_p99_ms
        && *cpu_percent == b.cpu_percent
        && *requests == b.requests
}

fn rows(total: &Snapshot, interval: &Snapshot, secs: f64) -> Vec<RequestRow> {
    let secs = secs.max(1e-3);
    let mut last = by_name(interval);
    by_name(total)
        .into_iter()
        .map(|(name, run)| {
            let last = last.remove(&name).unwrap_or_else(ByName::empty);
            RequestRow {
                rps: last.count as f64 / secs,
                run: Figures::of(&run),
                interval: Figures::of(&last),
                errors: run.errors,
                interval_errors: last.errors,
                name,
            }
        })
        .collect()
}

fn totals(total: &Snapshot, rows: &[RequestRow]) -> Totals {
    let mut t = Totals { iterations: total.iterations(), vus_max: total.vus_max(), ..Totals::default() };
    let (mut hits, mut misses, mut hit_bytes, mut miss_bytes) = (0u64, 0u64, 0u64, 0u64);
    for r in total.requests.values() {
        t.requests += r.count();
        t.failed += r.failed();
        t.data_in += r.data_received();
        t.data_out += r.data_sent();
        hits += r.cdn_hits();
        misses += r.cdn_misses();
        hit_bytes += r.cdn_hit_bytes();
        miss_bytes += r.cdn_miss_bytes();
    }
    t.cdn_hit = (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64);
    t.cdn_hit_bytes = (hit_bytes + miss_bytes > 0).then(|| hit_bytes as f64 / (hit_bytes + miss_bytes) as f64);
    for row in rows {
        for k in 0..ErrorKind::COUNT {
            t.errors[k] += row.errors[k];
            t.interval_errors[k] += row.interval_errors[k];
        }
    }
    t
}

/// The stages running at `t` (one per scenario that is in a stage).
pub fn current_stages(stages: &[StageInfo], t: Duration) -> Vec<&StageInfo> {
    stages.iter().filter(|s| s.start <= t && t < s.start + s.duration).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stampede_metrics::shard::Layout;
    use stampede_metrics::{CacheOutcome, Method, RequestId, RequestSample, Shard, Timings};

    use super::*;

    /// "a" in two statuses and two scenarios, "b" in one series.
    fn snapshot(scale: u64) -> Snapshot {
        let layout = Arc::new(Layout {
            scenarios: vec!["s1".into(), "s2".into()],
            request_names: vec!["a".into(), "b".into()],
            check_names: vec![],
            groups: vec!["".into()],
            tag_sets: vec![std::sync::Arc::from(Vec::new())],
            metrics: Vec::new(),
        });
        let mut shard = Shard::new(layout);
        let mut rec = |scenario, name, status, ms: u64, n, error, cache| {
            let id = RequestId { scenario, name, method: Method::Get, status, group: 0, tags: 0 };
            for i in 0..n {
                let s = RequestSample {
                    timings: Timings { waiting: ms * 1000 * scale + i, ..Timings::default() },
                    bytes_sent: 1,
                    bytes_received: 1,
                    body_bytes: 1,
                    error,
                    cache,
                };
                shard.request(id).record(&s);
            }
        };
        rec(0, 0, 200, 10, 90, None, CacheOutcome::Hit);
        rec(1, 0, 200, 30, 5, None, CacheOutcome::Miss);
        rec(0, 0, 500, 900, 5, Some(ErrorKind::Status5xx), CacheOutcome::Unknown);
        rec(0, 1, 0, 50, 7, Some(ErrorKind::Refused), CacheOutcome::Unknown);
        shard.into_snapshot()
    }

    fn reference(snap: &Snapshot, name: &str) -> Figures {
        let r = snap.by_name(name);
        let b = ByName {
            count: r.count(),
            failed: r.failed(),
            cdn_hits: r.cdn_hits(),
            cdn_misses: r.cdn_misses(),
            errors: r.errors,
            duration: Cow::Borrowed(r.duration()),
        };
        Figures::of(&b)
    }

    #[test]
    fn rows_merge_series_of_a_name_exactly_like_snapshot_by_name() {
        let snap = snapshot(1);
        let rows = rows(&snap, &snap, 1.0);
        assert_eq!(rows.iter().map(|r| &*r.name).collect::<Vec<_>>(), ["a", "b"]);
        for r in &rows {
            assert_eq!(r.run, reference(&snap, &r.name), "{}", r.name);
            assert_eq!(r.errors, snap.by_name(&r.name).errors);
        }
        let a = &rows[0].run;
        assert_eq!((a.count, a.failed), (100, 5));
        assert!(a.p99 > 800.0, "the 500s' latency is in the merged p99: {}", a.p99);
        assert_eq!(a.cdn_hit, Some(90.0 / 95.0));
    }

    #[test]
    fn snapshot_figures_are_recomputed_only_for_a_new_interval() {
        let mut state = LiveState::new("x.toml".into(), vec![], Duration::from_secs(10), 1);
        state.push_interval(Duration::from_secs(1), snapshot(1), 1.0);
        let mut m = Model::of(&state);
        let before = m.rows.clone();
        // Replace the figures behind the model's back without a new interval:
        // a frame must not redo the work (the stamp did not move)...
        state.last_interval = snapshot(2);
        state.agents.clear();
        state.event("something");
        assert!(m.read(&state), "a new event is something to draw");
        assert_eq!(m.rows, before);
        // ...while what is cheap to copy follows every frame.
        assert_eq!(m.events.len(), 1);
        // Nothing moved: nothing to draw.
        assert!(!m.read(&state));
        // A new interval moves the stamp.
        state.push_interval(Duration::from_secs(2), snapshot(2), 1.0);
        assert!(m.read(&state));
        assert_ne!(m.rows, before);
        assert_eq!(m.rows[0].run.count, 200);
    }

    #[test]
    fn long_runs_are_bucketed_keeping_peaks() {
        let mut state = LiveState::new("x.toml".into(), vec![], Duration::from_secs(3600), 1);
        for t in 1..=3000u64 {
            state.push_interval(Duration::from_secs(t), Snapshot::default(), 1.0);
        }
        state.points[345].rps = 9999.0;
        let m = Model::of(&state);
        assert!(m.series.rps.len() <= CHART_POINTS + 1);
        assert!(m.series.rps.iter().any(|p| p.1 == 9999.0), "a one-interval spike survives bucketing");
        assert_eq!(m.series.rps.last().unwrap().0, 3000.0);
    }

    #[test]
    fn a_heartbeat_alone_is_not_drawn_but_an_agent_change_is() {
        let mut state = LiveState::new("x.toml".into(), vec![], Duration::from_secs(10), 1);
        state.agents = vec![AgentInfo {
            name: "agent-0".into(),
            address: "127.0.0.1:1".into(),
            state: stampede_metrics::live::AgentState::Running,
            vus: 5,
            rps: 100.0,
            lag_p99_ms: None,
            cpu_percent: Some(12.0),
            last_heartbeat: Instant::now(),
            requests: 100,
        }];
        let mut m = Model::of(&state);
        state.agents[0].last_heartbeat += Duration::from_millis(250);
        assert!(!m.read(&state), "a heartbeat alone changes nothing on screen");
        assert_eq!(m.agents[0].last_heartbeat, state.agents[0].last_heartbeat, "but its age stays current");
        state.agents[0].state = stampede_metrics::live::AgentState::Lost;
        assert!(m.read(&state));
        assert_eq!(m.agents[0].state, stampede_metrics::live::AgentState::Lost);
    }
}
