//! Worker-local recording. A `Shard` belongs to exactly one worker thread; the
//! hot path indexes into it without locks or messages. Once per interval the
//! worker swaps it for an empty one and hands the full one to the collector.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::hist::{Histogram, new_histogram, record};
use stampede_scenario::TagSet;
use stampede_scenario::threshold::{CustomMetric, Metric};

use crate::custom::{MetricId, MetricStats};

use crate::kinds::{CacheOutcome, ErrorKind};

/// Names behind the numeric ids a shard is keyed by, fixed at plan time.
#[derive(Debug, Clone)]
pub struct Layout {
    pub scenarios: Vec<Arc<str>>,
    pub request_names: Vec<Arc<str>>,
    pub check_names: Vec<Arc<str>>,
    /// Group paths (`Plan::group_names`; 0 is the root `""`).
    pub groups: Vec<Arc<str>>,
    /// Custom tag sets (`Plan::tag_sets`; 0 is the empty set).
    pub tag_sets: Vec<TagSet>,
    /// Custom metrics (`Plan::metrics`).
    pub metrics: Vec<Arc<CustomMetric>>,
}

impl Layout {
    /// The names of a plan's ids.
    pub fn of_plan(plan: &stampede_scenario::Plan) -> Layout {
        Layout {
            scenarios: plan.scenarios.iter().map(|s| s.name.clone()).collect(),
            request_names: plan.request_names.clone(),
            check_names: plan.check_names.clone(),
            groups: plan.group_names.clone(),
            tag_sets: plan.tag_sets.clone(),
            metrics: plan.metrics.clone(),
        }
    }

    /// A layout of these names with no groups and no custom tags (tests, tools).
    pub fn plain(scenarios: Vec<Arc<str>>, request_names: Vec<Arc<str>>, check_names: Vec<Arc<str>>) -> Layout {
        Layout {
            scenarios,
            request_names,
            check_names,
            groups: vec!["".into()],
            tag_sets: vec![Arc::from(Vec::new())],
            metrics: Vec::new(),
        }
    }
}

/// The numeric identity of a request series inside one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    pub scenario: u16,
    pub name: u32,
    pub method: Method,
    /// 0 when no response was received.
    pub status: u16,
    /// Index into `Layout::groups` (0: the root group).
    pub group: u32,
    /// Index into `Layout::tag_sets` (0: no custom tags).
    pub tags: u32,
}

impl RequestId {
    /// The id as one integer: the plain key in the low half, group and tag
    /// set (both 0 for a plan without them) in the high half.
    #[inline]
    fn packed(self) -> u128 {
        let low = (self.scenario as u64) << 48
            | (self.name as u64 & 0xff_ffff) << 24
            | (self.method as u64) << 16
            | self.status as u64;
        ((self.group as u128) << 96) | ((self.tags as u128) << 64) | low as u128
    }
}

/// HTTP methods as a closed set (the scenario crate rejects others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn from_http(m: &http::Method) -> Method {
        match *m {
            http::Method::GET => Method::Get,
            http::Method::HEAD => Method::Head,
            http::Method::POST => Method::Post,
            http::Method::PUT => Method::Put,
            http::Method::PATCH => Method::Patch,
            http::Method::DELETE => Method::Delete,
            http::Method::OPTIONS => Method::Options,
            _ => Method::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

/// Per-request timings, microseconds, k6's phase names.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub blocked: u64,
    pub connecting: u64,
    pub tls_handshaking: u64,
    pub sending: u64,
    pub waiting: u64,
    pub receiving: u64,
}

impl Timings {
    /// k6's `http_req_duration`: sending + waiting + receiving.
    #[inline]
    pub fn duration(&self) -> u64 {
        self.sending + self.waiting + self.receiving
    }
}

/// What one request produced, as the engine reports it.
#[derive(Debug, Clone, Copy)]
pub struct RequestSample {
    pub timings: Timings,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Response body bytes (for CDN hit ratio by bytes).
    pub body_bytes: u64,
    pub error: Option<ErrorKind>,
    pub cache: CacheOutcome,
}

/// Defines the request series' schema once: the trends (k6's request
/// phases, one histogram each) and the counters, as enums that index the
/// arrays of [`RequestStats`], with their names (wire, logs) and accessors.
/// Recording, merging, encoding and decoding loop over the enums, so adding
/// a phase is one line here (plus its k6 metric name for thresholds, and the
/// docs); the wire carries the arrays in this order.
macro_rules! request_schema {
    (
        trends { $($trend:ident $tfn:ident $tname:literal $metric:ident $of:expr;)* }
        counters { $($counter:ident $cfn:ident $cname:literal;)* }
    ) => {
        /// A time trend of a request series, in µs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RequestTrend { $($trend),* }

        impl RequestTrend {
            pub const ALL: [RequestTrend; [$(RequestTrend::$trend),*].len()] = [$(RequestTrend::$trend),*];
            pub const COUNT: usize = Self::ALL.len();

            /// Its name on the wire and in messages (`tls_handshaking`).
            pub fn name(self) -> &'static str {
                match self { $(RequestTrend::$trend => $tname),* }
            }

            /// The k6 metric it is (`http_req_tls_handshaking`).
            pub fn metric(self) -> Metric {
                match self { $(RequestTrend::$trend => Metric::$metric),* }
            }

            /// Its value in one request's timings.
            #[inline]
            pub fn of(self, t: &Timings) -> u64 {
                let of: [fn(&Timings) -> u64; Self::COUNT] = [$($of),*];
                of[self as usize](t)
            }
        }

        /// A counter of a request series.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RequestCounter { $($counter),* }

        impl RequestCounter {
            pub const ALL: [RequestCounter; [$(RequestCounter::$counter),*].len()] = [$(RequestCounter::$counter),*];
            pub const COUNT: usize = Self::ALL.len();

            /// Its name on the wire and in messages (`data_sent`).
            pub fn name(self) -> &'static str {
                match self { $(RequestCounter::$counter => $cname),* }
            }
        }

        impl RequestStats {
            $(
                #[inline]
                pub fn $tfn(&self) -> &Histogram {
                    &self.trends[RequestTrend::$trend as usize]
                }
            )*
            $(
                #[inline]
                pub fn $cfn(&self) -> u64 {
                    self.counters[RequestCounter::$counter as usize]
                }
            )*
        }
    };
}

request_schema! {
    trends {
        Duration duration "duration" HttpReqDuration |t| t.duration();
        Blocked blocked "blocked" HttpReqBlocked |t| t.blocked;
        Connecting connecting "connecting" HttpReqConnecting |t| t.connecting;
        TlsHandshaking tls_handshaking "tls_handshaking" HttpReqTlsHandshaking |t| t.tls_handshaking;
        Sending sending "sending" HttpReqSending |t| t.sending;
        Waiting waiting "waiting" HttpReqWaiting |t| t.waiting;
        Receiving receiving "receiving" HttpReqReceiving |t| t.receiving;
    }
    counters {
        Count count "count";
        Failed failed "failed";
        DataSent data_sent "data_sent";
        DataReceived data_received "data_received";
        CdnHits cdn_hits "cdn_hits";
        CdnMisses cdn_misses "cdn_misses";
        CdnUnknown cdn_unknown "cdn_unknown";
        CdnHitBytes cdn_hit_bytes "cdn_hit_bytes";
        CdnMissBytes cdn_miss_bytes "cdn_miss_bytes";
    }
}

/// Everything measured for one request series.
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// Indexed by [`RequestTrend`].
    pub trends: [Histogram; RequestTrend::COUNT],
    /// Indexed by [`RequestCounter`].
    pub counters: [u64; RequestCounter::COUNT],
    /// Failed requests, indexed by [`ErrorKind`].
    pub errors: [u64; ErrorKind::COUNT],
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            trends: std::array::from_fn(|_| new_histogram()),
            counters: [0; RequestCounter::COUNT],
            errors: [0; ErrorKind::COUNT],
        }
    }
}

impl std::ops::Index<RequestTrend> for RequestStats {
    type Output = Histogram;
    fn index(&self, t: RequestTrend) -> &Histogram {
        &self.trends[t as usize]
    }
}

impl std::ops::IndexMut<RequestTrend> for RequestStats {
    fn index_mut(&mut self, t: RequestTrend) -> &mut Histogram {
        &mut self.trends[t as usize]
    }
}

impl std::ops::Index<RequestCounter> for RequestStats {
    type Output = u64;
    fn index(&self, c: RequestCounter) -> &u64 {
        &self.counters[c as usize]
    }
}

impl std::ops::IndexMut<RequestCounter> for RequestStats {
    fn index_mut(&mut self, c: RequestCounter) -> &mut u64 {
        &mut self.counters[c as usize]
    }
}

impl RequestStats {
    #[inline]
    pub fn record(&mut self, s: &RequestSample) {
        use RequestCounter as C;
        for (t, h) in RequestTrend::ALL.into_iter().zip(&mut self.trends) {
            record(h, t.of(&s.timings));
        }
        self[C::Count] += 1;
        self[C::DataSent] += s.bytes_sent;
        self[C::DataReceived] += s.bytes_received;
        if let Some(kind) = s.error {
            self[C::Failed] += 1;
            self.errors[kind.index()] += 1;
        }
        match s.cache {
            CacheOutcome::Hit => {
                self[C::CdnHits] += 1;
                self[C::CdnHitBytes] += s.body_bytes;
            }
            CacheOutcome::Miss => {
                self[C::CdnMisses] += 1;
                self[C::CdnMissBytes] += s.body_bytes;
            }
            CacheOutcome::Unknown => self[C::CdnUnknown] += 1,
        }
    }

    pub fn merge(&mut self, o: &RequestStats) {
        for (a, b) in self.trends.iter_mut().zip(&o.trends) {
            crate::hist::merge(a, b);
        }
        for (a, b) in self.counters.iter_mut().chain(&mut self.errors).zip(o.counters.iter().chain(&o.errors)) {
            *a += b;
        }
    }

    /// Failed requests / requests (0 when there were none).
    pub fn error_rate(&self) -> f64 {
        let count = self.count();
        if count > 0 { self.failed() as f64 / count as f64 } else { 0.0 }
    }

    /// The histogram holding a trend metric of this series, if it is one.
    pub fn trend(&self, metric: &Metric) -> Option<&Histogram> {
        RequestTrend::ALL.into_iter().find(|t| t.metric() == *metric).map(|t| &self[t])
    }
}

/// Per-scenario iteration measurements.
#[derive(Debug, Clone)]
pub struct ScenarioStats {
    pub iterations: u64,
    pub iteration_duration: Histogram,
    /// Arrival-rate iterations that could not start (every VU busy, max reached).
    pub dropped_iterations: u64,
    /// Iterations cut short by a stop (not counted in `iterations`).
    pub interrupted_iterations: u64,
    /// Open model: scheduled start → end of iteration (coordinated-omission free).
    pub intended_latency: Histogram,
    /// Open model: scheduled start → actual start (the generator's own lag).
    pub scheduling_lag: Histogram,
    /// Gauge: VUs running now (summed over sources of one interval).
    pub vus: u64,
    /// Gauge: VUs allocated (pre-allocated plus started).
    pub vus_max: u64,
}

impl Default for ScenarioStats {
    fn default() -> Self {
        ScenarioStats {
            iterations: 0,
            iteration_duration: new_histogram(),
            dropped_iterations: 0,
            interrupted_iterations: 0,
            intended_latency: new_histogram(),
            scheduling_lag: new_histogram(),
            vus: 0,
            vus_max: 0,
        }
    }
}

impl ScenarioStats {
    /// Adds counters and histograms; gauges add too (concurrent sources).
    pub fn merge(&mut self, o: &ScenarioStats) {
        use crate::hist::merge;
        self.iterations += o.iterations;
        merge(&mut self.iteration_duration, &o.iteration_duration);
        self.dropped_iterations += o.dropped_iterations;
        self.interrupted_iterations += o.interrupted_iterations;
        merge(&mut self.intended_latency, &o.intended_latency);
        merge(&mut self.scheduling_lag, &o.scheduling_lag);
        self.vus += o.vus;
        self.vus_max += o.vus_max;
    }
}

/// Check outcomes of one (scenario, check) pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounts {
    pub passes: u64,
    pub fails: u64,
}

/// The numeric identity of a check series in a group or with tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CheckId {
    scenario: u16,
    check: u32,
    group: u32,
    tags: u32,
}

impl CheckId {
    #[inline]
    fn packed(self) -> u128 {
        (self.check as u128) << 96 | (self.scenario as u128) << 64 | (self.group as u128) << 32 | self.tags as u128
    }
}

/// Multiply-shift hasher for the packed `u64` request ids (the default
/// SipHash costs more than the rest of a record).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    fn write_u128(&mut self, n: u128) {
        // The high half (group, tags) is 0 for plans without them.
        let mixed = n as u64 ^ ((n >> 64) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        self.write_u64(mixed);
    }
}

/// The position of the series `key` in `series`, pushing `new()` on its
/// first use (`None` when `new` has nothing to push).
#[inline]
fn series_of<T>(
    index: &mut HashMap<u128, u32, BuildHasherDefault<IdHasher>>,
    series: &mut Vec<T>,
    key: u128,
    new: impl FnOnce() -> Option<T>,
) -> Option<usize> {
    if let Some(&i) = index.get(&key) {
        return Some(i as usize);
    }
    let i = series.len();
    series.push(new()?);
    index.insert(key, i as u32);
    Some(i)
}

/// One worker's measurements for one interval.
#[derive(Debug, Clone)]
pub struct Shard {
    layout: Arc<Layout>,
    index: HashMap<u128, u32, BuildHasherDefault<IdHasher>>,
    requests: Vec<(RequestId, RequestStats)>,
    scenarios: Vec<ScenarioStats>,
    /// `group_duration` by (scenario, group), created on a group's first run
    /// in the interval (a plan has few groups: a scan beats a map).
    groups: Vec<(u16, u32, Histogram)>,
    /// `check * scenario_count + scenario` → counts (grows with run-time
    /// check names): the checks of the root group without tags, the plain
    /// and cheapest case.
    checks: Vec<CheckCounts>,
    /// Checks in a group or with tags, by (check, scenario, group, tag set)
    /// packed ([`check_key`]), created on first use in the interval (both
    /// stay empty, unallocated, while every check is plain).
    check_index: HashMap<u128, u32, BuildHasherDefault<IdHasher>>,
    tagged_checks: Vec<(CheckId, CheckCounts)>,
    /// Custom metric series, created on their first sample in the interval
    /// (both stay empty, unallocated, for a plan without custom metrics).
    metric_index: HashMap<u128, u32, BuildHasherDefault<IdHasher>>,
    metrics: Vec<(MetricId, MetricStats)>,
}

impl Shard {
    pub fn new(layout: Arc<Layout>) -> Shard {
        let n_scen = layout.scenarios.len();
        let n_checks = layout.check_names.len();
        Shard {
            index: HashMap::default(),
            requests: Vec::new(),
            scenarios: (0..n_scen).map(|_| ScenarioStats::default()).collect(),
            groups: Vec::new(),
            checks: vec![CheckCounts::default(); n_scen * n_checks],
            check_index: HashMap::default(),
            tagged_checks: Vec::new(),
            metric_index: HashMap::default(),
            metrics: Vec::new(),
            layout,
        }
    }

    /// Records one sample of a custom metric (`None`: no value, counted as
    /// skipped); `at_us` (µs since the test start) orders gauge values. An
    /// id outside the layout records nothing.
    #[inline]
    pub fn record_metric(&mut self, id: MetricId, value: Option<f64>, at_us: u64) {
        let layout = &self.layout;
        let new = || Some((id, MetricStats::new(layout.metrics.get(id.metric as usize)?)));
        if let Some(idx) = series_of(&mut self.metric_index, &mut self.metrics, id.packed(), new) {
            self.metrics[idx].1.record(value, at_us);
        }
    }

    /// The series for a request id, created on first use in this interval.
    #[inline]
    pub fn request(&mut self, id: RequestId) -> &mut RequestStats {
        let idx = series_of(&mut self.index, &mut self.requests, id.packed(), || Some((id, RequestStats::default())));
        // `new` always gives a series: the index is there.
        &mut self.requests[idx.unwrap_or_default()].1
    }

    #[inline]
    pub fn scenario(&mut self, scenario: u16) -> &mut ScenarioStats {
        &mut self.scenarios[scenario as usize]
    }

    /// Records one run of a group (k6's `group_duration`), µs.
    pub fn group_duration(&mut self, scenario: u16, group: u32, micros: u64) {
        let i = match self.groups.iter().position(|(s, g, _)| *s == scenario && *g == group) {
            Some(i) => i,
            None => {
                self.groups.push((scenario, group, new_histogram()));
                self.groups.len() - 1
            }
        };
        record(&mut self.groups[i].2, micros);
    }

    /// Records one check outcome in the root group, without tags.
    #[inline]
    pub fn check(&mut self, scenario: u16, check: u32, passed: bool) {
        let n = self.layout.scenarios.len();
        let i = check as usize * n + scenario as usize;
        if i >= self.checks.len() {
            self.checks.resize(i + 1, CheckCounts::default());
        }
        let c = &mut self.checks[i];
        if passed { c.passes += 1 } else { c.fails += 1 }
    }

    /// Records one check outcome of a group (index into `Layout::groups` or
    /// a run-time group id) with a tag set (index into `Layout::tag_sets`
    /// or a run-time tag-set id); group 0 and tag set 0 take the plain path
    /// of [`Shard::check`].
    #[inline]
    pub fn check_tagged(&mut self, scenario: u16, check: u32, group: u32, tags: u32, passed: bool) {
        if group == 0 && tags == 0 {
            return self.check(scenario, check, passed);
        }
        let id = CheckId { scenario, check, group, tags };
        let new = || Some((id, CheckCounts::default()));
        if let Some(i) = series_of(&mut self.check_index, &mut self.tagged_checks, id.packed(), new) {
            let c = &mut self.tagged_checks[i].1;
            if passed { c.passes += 1 } else { c.fails += 1 }
        }
    }

    /// Moves this shard's contents out, leaving it empty but keeping gauges.
    pub fn take(&mut self) -> Shard {
        let mut fresh = Shard::new(self.layout.clone());
        for (new, old) in fresh.scenarios.iter_mut().zip(&self.scenarios) {
            new.vus = old.vus;
            new.vus_max = old.vus_max;
        }
        std::mem::replace(self, fresh)
    }

    /// Converts ids to names for merging across workers and processes.
    pub fn into_snapshot(self) -> crate::snapshot::Snapshot {
        let names = crate::names::RunNames::after(&self.layout);
        self.into_snapshot_with(&names)
    }

    /// [`Shard::into_snapshot`] for a shard that also recorded ids of
    /// run-time names (a script's), interned in `names`.
    pub fn into_snapshot_with(self, names: &crate::names::RunNames) -> crate::snapshot::Snapshot {
        use crate::snapshot::{CheckKey, GroupKey, RequestKey, Snapshot};
        let l = &self.layout;
        let unknown: Arc<str> = Arc::from("");
        let empty: TagSet = Arc::from(Vec::new());
        let request_name = |id: u32| names.request(l, id).unwrap_or(&unknown).clone();
        let group_name = |id: u32| names.group(l, id).unwrap_or(&unknown).clone();
        let tag_set = |id: u32| names.tag_set(l, id).unwrap_or(&empty).clone();
        let mut snap = Snapshot::default();
        for (id, stats) in self.requests {
            let key = RequestKey {
                scenario: l.scenarios[id.scenario as usize].clone(),
                name: request_name(id.name),
                method: id.method,
                status: id.status,
                group: group_name(id.group),
                tags: tag_set(id.tags),
            };
            match snap.requests.get_mut(&key) {
                Some(s) => s.merge(&stats),
                None => {
                    snap.requests.insert(key, stats);
                }
            }
        }
        for (i, stats) in self.scenarios.into_iter().enumerate() {
            snap.scenarios.insert(l.scenarios[i].clone(), stats);
        }
        for (scenario, group, h) in self.groups {
            let key = GroupKey { scenario: l.scenarios[scenario as usize].clone(), group: group_name(group) };
            crate::hist::merge(snap.groups.entry(key).or_insert_with(new_histogram), &h);
        }
        for (id, stats) in self.metrics {
            let name = match id.name {
                MetricId::NO_NAME => Arc::from(""),
                n => request_name(n),
            };
            let key = crate::custom::MetricKey {
                metric: l.metrics[id.metric as usize].name.clone(),
                scenario: l.scenarios[id.scenario as usize].clone(),
                name,
                group: group_name(id.group),
                tags: tag_set(id.tags),
            };
            match snap.metrics.get_mut(&key) {
                Some(s) => s.merge(&stats),
                None => {
                    snap.metrics.insert(key, stats);
                }
            }
        }
        let n = l.scenarios.len().max(1);
        for (i, c) in self.checks.into_iter().enumerate() {
            if c.passes + c.fails == 0 {
                continue;
            }
            let Some(check) = names.check(l, (i / n) as u32) else { continue };
            let key = CheckKey::plain(l.scenarios[i % n].clone(), check.clone());
            let e = snap.checks.entry(key).or_default();
            e.passes += c.passes;
            e.fails += c.fails;
        }
        for (id, c) in self.tagged_checks {
            let Some(check) = names.check(l, id.check) else { continue };
            let key = CheckKey {
                scenario: l.scenarios[id.scenario as usize].clone(),
                check: check.clone(),
                group: group_name(id.group),
                tags: tag_set(id.tags),
            };
            let e = snap.checks.entry(key).or_default();
            e.passes += c.passes;
            e.fails += c.fails;
        }
        snap
    }
}
