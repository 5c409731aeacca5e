//! The live state of a run: what the terminal UI, the Prometheus endpoint and
//! the report writers read while the run goes on. The run loop (local or
//! coordinator) updates it once per interval; readers lock it briefly. It is
//! never touched on the load path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::snapshot::Snapshot;
use crate::summary::ThresholdOutcome;

/// Most chart points kept, whatever the run's length. When full, adjacent
/// points are merged pairwise and each new point stands for twice as many
/// intervals as before (keeping their worst values, so a one-second spike
/// stays visible): the charts always span the whole run at one resolution,
/// and memory stays constant (about 100 KB) in a 24-hour soak.
pub const MAX_POINTS: usize = 960;

/// The state shared by a run and its readers.
pub type Shared = Arc<Mutex<LiveState>>;

/// Locks the shared state. A reader that panicked while holding it leaves
/// the state as it was (every writer updates it whole), so poisoning is
/// ignored rather than taking the run down with the reader.
pub fn lock(s: &Shared) -> std::sync::MutexGuard<'_, LiveState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for agents / the start barrier.
    Starting,
    Running,
    /// A graceful stop was asked for; in-flight iterations are finishing.
    Stopping,
    Done,
}

/// One point of the over-time charts, computed from one interval; the JSON
/// summary's `intervals` hold these (`t` in seconds).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// End of the interval, from the run start.
    #[serde(with = "seconds")]
    pub t: Duration,
    pub rps: f64,
    /// Failed requests / requests in the interval (0 when none).
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub vus: u64,
    /// `None` when no response in the interval was classified hit or miss.
    pub cdn_hit_ratio: Option<f64>,
    pub data_in_per_s: f64,
    pub data_out_per_s: f64,
    pub iterations_per_s: f64,
}

/// A duration as a number of seconds (`1.5`), as the JSON summary writes time.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs.max(0.0)).map_err(serde::de::Error::custom)
    }
}

impl Point {
    /// Computes a chart point from an interval's snapshot of `secs` seconds.
    pub fn of(t: Duration, interval: &Snapshot, secs: f64) -> Point {
        let all = interval.all_requests();
        let secs = secs.max(1e-3);
        let q = |p: f64| crate::hist::quantile_ms(all.duration(), p);
        let den = all.cdn_hits() + all.cdn_misses();
        Point {
            t,
            rps: all.count() as f64 / secs,
            error_rate: all.error_rate(),
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            vus: interval.vus(),
            cdn_hit_ratio: (den > 0).then(|| all.cdn_hits() as f64 / den as f64),
            data_in_per_s: all.data_received() as f64 / secs,
            data_out_per_s: all.data_sent() as f64 / secs,
            iterations_per_s: interval.iterations() as f64 / secs,
        }
    }
}

/// Whether an interval of `secs` seconds gets its own chart point. The run's
/// last interval is partial, often a few milliseconds after the load ended:
/// its rates over so short a window would draw a spike or a drop that never
/// happened. Such an interval (under half the nominal length) counts in the
/// totals and the raw logs (hlog, CSV) but is not drawn, unless it is the
/// run's only one.
pub fn charted(secs: f64, nominal: Duration, first: bool) -> bool {
    first || secs >= nominal.as_secs_f64() / 2.0
}

#[derive(Clone)]
struct ChartIter<'a> {
    points: std::collections::vec_deque::Iter<'a, Point>,
    filling: Option<&'a Point>,
}

impl<'a> Iterator for ChartIter<'a> {
    type Item = &'a Point;
    fn next(&mut self) -> Option<&'a Point> {
        self.points.next().or_else(|| self.filling.take())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.points.len() + usize::from(self.filling.is_some());
        (n, Some(n))
    }
}

impl ExactSizeIterator for ChartIter<'_> {}

/// Merges adjacent points pairwise, in place: each pair becomes one point
/// at the later time with the worse of each figure.
fn halve(points: &mut VecDeque<Point>) {
    let v = points.make_contiguous();
    let mut out = 0;
    for i in (0..v.len()).step_by(2) {
        v[out] = match v.get(i + 1) {
            Some(&b) => Point::worst(v[i], b),
            None => v[i],
        };
        out += 1;
    }
    points.truncate(out);
}

impl Point {
    /// One point for two consecutive ones (`a` before `b`): `b`'s time and
    /// the higher rate, error rate, latency, VUs and traffic, the lower CDN
    /// hit ratio: what a chart must not hide.
    pub fn worst(a: Point, b: Point) -> Point {
        Point {
            t: b.t,
            rps: a.rps.max(b.rps),
            error_rate: a.error_rate.max(b.error_rate),
            p50_ms: a.p50_ms.max(b.p50_ms),
            p95_ms: a.p95_ms.max(b.p95_ms),
            p99_ms: a.p99_ms.max(b.p99_ms),
            vus: a.vus.max(b.vus),
            cdn_hit_ratio: match (a.cdn_hit_ratio, b.cdn_hit_ratio) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            },
            data_in_per_s: a.data_in_per_s.max(b.data_in_per_s),
            data_out_per_s: a.data_out_per_s.max(b.data_out_per_s),
            iterations_per_s: a.iterations_per_s.max(b.iterations_per_s),
        }
    }
}

/// Health of a load generator as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Connected,
    Ready,
    Running,
    Done,
    Lost,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Connected => "connected",
            AgentState::Ready => "ready",
            AgentState::Running => "running",
            AgentState::Done => "done",
            AgentState::Lost => "lost",
        }
    }
}

/// A load generator (an agent process, or the local workers).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    pub name: String,
    pub address: String,
    pub state: AgentState,
    pub vus: u64,
    /// Requests per second in its last interval.
    pub rps: f64,
    /// p99 of its open-model scheduling lag in the last interval (ms).
    pub lag_p99_ms: Option<f64>,
    /// CPU use of the agent process in its last interval (0–100 × cores).
    pub cpu_percent: Option<f64>,
    pub last_heartbeat: Instant,
    /// Requests it delivered in the whole run.
    pub requests: u64,
}

/// How a coordinator keeps up with its agents, for the Agents view and the
/// end of the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coordination {
    /// Spread of the agents' load starts (latest − earliest), ms, by their
    /// own clocks; `None` until two agents said when they started.
    pub start_skew_ms: Option<f64>,
    /// Intervals merged and handed on so far.
    pub intervals: u64,
    /// How long after its end each interval went out: median, p99, max (ms).
    pub late_ms: [f64; 3],
    /// CPU time of the merge per interval: median, max (ms).
    pub merge_ms: [f64; 2],
}

/// A stage of a scenario, for the progress gauge.
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    pub scenario: String,
    /// Start from the run start.
    pub start: Duration,
    pub duration: Duration,
    /// e.g. "ramp to 15000 VUs", "hold 200/s".
    pub label: String,
}

/// Everything readers may show about a run in progress.
#[derive(Debug, Clone)]
pub struct LiveState {
    pub scenario_file: String,
    pub scenario_names: Vec<String>,
    pub phase: Phase,
    pub paused: bool,
    /// Planned length (graceful stops excluded).
    pub planned: Duration,
    /// Time since the load started (updated every interval).
    pub elapsed: Duration,
    pub stages: Vec<StageInfo>,
    /// Most VUs the plan can run at once.
    pub vus_max_planned: u64,
    /// Cumulative measurements.
    pub total: Snapshot,
    /// The latest interval's measurements (per-request rates, live tables).
    pub last_interval: Snapshot,
    /// Length of the latest interval in seconds.
    pub last_interval_secs: f64,
    /// The nominal interval length (the last one may be shorter).
    pub interval: Duration,
    /// Over-time chart points, oldest first, at most `MAX_POINTS`, each
    /// standing for `point_span` intervals; read them with [`LiveState::chart`],
    /// which adds the point being filled.
    pub points: VecDeque<Point>,
    /// Intervals per chart point: 1, doubling each time `points` fills up.
    pub point_span: u32,
    /// The chart point being filled (fewer than `point_span` intervals) and
    /// how many intervals it holds.
    filling: Option<(Point, u32)>,
    /// The latest charted interval alone (the "now" figures).
    pub now: Option<Point>,
    /// Thresholds evaluated on `total`, in plan order.
    pub thresholds: Vec<ThresholdOutcome>,
    pub agents: Vec<AgentInfo>,
    /// How the coordinator keeps up (distributed runs only).
    pub coordination: Option<Coordination>,
    /// Notable events for the user ("agent b lost", "threshold failed").
    pub events: VecDeque<(Duration, String)>,
}

impl LiveState {
    pub fn new(
        scenario_file: String,
        scenario_names: Vec<String>,
        planned: Duration,
        vus_max_planned: u64,
    ) -> LiveState {
        LiveState {
            scenario_file,
            scenario_names,
            phase: Phase::Starting,
            paused: false,
            planned,
            elapsed: Duration::ZERO,
            stages: Vec::new(),
            vus_max_planned,
            total: Snapshot::default(),
            last_interval: Snapshot::default(),
            last_interval_secs: 1.0,
            interval: Duration::from_secs(1),
            points: VecDeque::with_capacity(MAX_POINTS),
            point_span: 1,
            filling: None,
            now: None,
            thresholds: Vec::new(),
            agents: Vec::new(),
            coordination: None,
            events: VecDeque::new(),
        }
    }

    /// Folds in one interval of `secs` seconds ending at `t`.
    pub fn push_interval(&mut self, t: Duration, interval: Snapshot, secs: f64) {
        self.total.accumulate(&interval);
        if charted(secs, self.interval, self.now.is_none()) {
            let p = Point::of(t, &interval, secs);
            self.now = Some(p);
            let (acc, n) = match self.filling.take() {
                Some((a, n)) => (Point::worst(a, p), n + 1),
                None => (p, 1),
            };
            if n < self.point_span {
                self.filling = Some((acc, n));
            } else if self.points.len() < MAX_POINTS {
                self.points.push_back(acc);
            } else {
                // Full: halve the resolution; `acc` now fills half a point.
                halve(&mut self.points);
                self.point_span *= 2;
                self.filling = Some((acc, n));
            }
            // The live tables show the latest whole interval, as the charts do:
            // a few-millisecond tail would read as a rate spike.
            self.last_interval = interval;
            self.last_interval_secs = secs;
        }
        self.elapsed = t;
    }

    /// The chart points, oldest first, ending with the one being filled.
    pub fn chart(&self) -> impl ExactSizeIterator<Item = &Point> + Clone {
        let filling = self.filling.as_ref().map(|(p, _)| p);
        ChartIter { points: self.points.iter(), filling }
    }

    pub fn event(&mut self, msg: impl Into<String>) {
        self.events.push_back((self.elapsed, msg.into()));
        while self.events.len() > 100 {
            self.events.pop_front();
        }
    }

    pub fn shared(self) -> Shared {
        Arc::new(Mutex::new(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_last_interval_counts_but_is_not_charted() {
        let mut s = LiveState::new("x.toml".into(), vec![], Duration::from_secs(3), 1);
        // A 2 ms run: its only interval is charted.
        s.push_interval(Duration::from_millis(2), Snapshot::default(), 0.002);
        assert_eq!(s.chart().len(), 1);
        let mut s = LiveState::new("x.toml".into(), vec![], Duration::from_secs(3), 1);
        for t in 1..=3 {
            s.push_interval(Duration::from_secs(t), Snapshot::default(), 1.0);
        }
        s.push_interval(Duration::from_millis(3004), Snapshot::default(), 0.004);
        assert_eq!(s.chart().len(), 3, "the 4 ms tail draws no point");
        assert_eq!(s.elapsed, Duration::from_millis(3004));
        s.push_interval(Duration::from_millis(3604), Snapshot::default(), 0.6);
        assert_eq!(s.chart().len(), 4, "over half an interval is drawn");
    }

    #[test]
    fn an_eight_hour_soak_spans_the_whole_run_in_constant_memory_keeping_spikes() {
        const END: u64 = 8 * 3600;
        let mut s = LiveState::new("x.toml".into(), vec![], Duration::from_secs(END), 1);
        let capacity = s.points.capacity();
        for t in 1..=END {
            s.push_interval(Duration::from_secs(t), Snapshot::default(), 1.0);
            if t == 5_000 {
                // A one-second spike early in the run (in the latest point).
                let p = match s.filling.as_mut() {
                    Some((p, _)) => p,
                    None => s.points.back_mut().unwrap(),
                };
                p.p99_ms = 900.0;
                p.cdn_hit_ratio = Some(0.1);
            }
        }
        assert!(s.points.len() <= MAX_POINTS && s.points.len() > MAX_POINTS / 2, "{}", s.points.len());
        assert_eq!(s.points.capacity(), capacity, "no reallocation");
        // Each point stands for at most 2 × END / MAX_POINTS intervals (60 s).
        let first = s.points.front().unwrap().t;
        assert!(
            first <= Duration::from_secs(64),
            "the charts start at the run's start: {first:?}, {} points",
            s.points.len()
        );
        assert_eq!(s.points.back().unwrap().t, Duration::from_secs(END));
        assert!(s.points.iter().any(|p| p.p99_ms == 900.0), "the spike survives merging");
        assert!(s.points.iter().any(|p| p.cdn_hit_ratio == Some(0.1)), "so does the worst hit ratio");
        assert!(s.points.iter().zip(s.points.iter().skip(1)).all(|(a, b)| a.t < b.t), "in time order");
    }
}
