//! A synthetic run: deterministic interval snapshots shaped like a shop
//! rehearsal (several request names, errors, CDN hits, a closed and an
//! open-model scenario, checks), fed through outputs as `run` feeds them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::live::{AgentInfo, AgentState, LiveState, Phase};
use stampede_metrics::shard::{CheckCounts, ScenarioStats};
use stampede_metrics::snapshot::CheckKey;
use stampede_metrics::summary::TrendStats;
use stampede_metrics::{
    CacheOutcome, ErrorKind, Method, MetricKey, MetricStats, RequestKey, RequestSample, RequestStats, Snapshot,
    ThresholdOutcome, Timings,
};
use stampede_report::outputs::{Output, RunContext};
use stampede_report::{RunInfo, Summary};
use stampede_scenario::threshold::MetricKind;

/// Request names, tricky ones included (spaces, commas, `=`, `%`, markup).
pub const NAMES: [&str; 6] = ["home", "product page", "add to cart", "checkout", "search, q=<b>&\"x\"", "img 100%"];

pub const STARTED_AT_MS: u64 = 1_764_320_400_000;

pub fn context() -> RunContext {
    RunContext {
        scenario_file: "scenarios/synthetic.toml".into(),
        started_at_ms: STARTED_AT_MS,
        interval: Duration::from_secs(1),
        baseline: None,
    }
}

/// xorshift64*: deterministic and dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn arc(s: &str) -> Arc<str> {
    Arc::from(s)
}

/// One interval (`i` from 0) with about `rate` requests.
pub fn interval(i: usize, rate: usize, rng: &mut Rng) -> Snapshot {
    let mut snap = Snapshot::default();
    for _ in 0..rate {
        let n = (rng.next() % NAMES.len() as u64) as usize;
        let name = NAMES[n];
        // Log-uniform-ish latency around a per-name median, with a long tail.
        let median_us = [2_000.0, 8_000.0, 15_000.0, 120_000.0, 30_000.0, 900.0][n];
        let tail = if rng.unit() < 0.01 { 20.0 } else { 1.0 };
        let us = (median_us * (0.3 + 1.4 * rng.unit()) * tail * (1.0 + (i % 7) as f64 * 0.05)) as u64 + 1;
        let timeout = name == "checkout" && rng.unit() < 0.02;
        let status: u16 = if timeout {
            0
        } else if name == "add to cart" && rng.unit() < 0.05 {
            503
        } else {
            200
        };
        let error = if timeout { Some(ErrorKind::Timeout) } else { ErrorKind::from_status(status) };
        let cache = match name {
            "home" | "product page" | "img 100%" => {
                if rng.unit() < 0.8 {
                    CacheOutcome::Hit
                } else {
                    CacheOutcome::Miss
                }
            }
            _ => CacheOutcome::Unknown,
        };
        let sample = RequestSample {
            timings: Timings { waiting: us * 9 / 10, receiving: us - us * 9 / 10, ..Timings::default() },
            bytes_sent: 200,
            bytes_received: 1_500,
            body_bytes: 1_200,
            error,
            cache,
        };
        let method = if name == "add to cart" || name == "checkout" { Method::Post } else { Method::Get };
        let key = RequestKey::plain(arc(if n < 3 { "browse" } else { "buy" }), arc(name), method, status);
        snap.requests.entry(key).or_insert_with(RequestStats::default).record(&sample);
    }
    for (sc, open) in [("browse", false), ("buy", true)] {
        let mut s = ScenarioStats::default();
        let iters = rate as u64 / 4;
        s.iterations = iters;
        for _ in 0..iters {
            let us = (50_000.0 + 400_000.0 * rng.unit()) as u64;
            stampede_metrics::hist::record(&mut s.iteration_duration, us);
            if open {
                let lag = (200.0 + 3_000.0 * rng.unit()) as u64;
                stampede_metrics::hist::record(&mut s.scheduling_lag, lag);
                stampede_metrics::hist::record(&mut s.intended_latency, us + lag);
            }
        }
        s.dropped_iterations = u64::from(open && i % 10 == 9);
        s.vus = 10 + (i as u64 % 20);
        s.vus_max = 30;
        snap.scenarios.insert(arc(sc), s);
    }
    // Custom metrics of the buy scenario's checkout: orders (a counter, one
    // per call of a third of the requests), the server's time (ms), whether
    // the cart was not empty (a rate) and the stock left (a gauge).
    let custom = |metric: &str, kind: MetricKind, time: bool| {
        let key = MetricKey {
            metric: arc(metric),
            scenario: arc("buy"),
            name: arc("checkout"),
            group: arc(""),
            tags: Arc::from(Vec::new()),
        };
        (key, MetricStats::of_kind(kind, time))
    };
    let mut orders = custom("orders", MetricKind::Counter, false);
    let mut server_time = custom("server_time", MetricKind::Trend, true);
    let mut cart = custom("cart_not_empty", MetricKind::Rate, false);
    let mut stock = custom("stock", MetricKind::Gauge, false);
    for j in 0..rate as u64 / 3 {
        orders.1.record(Some(1.0), 0);
        server_time.1.record(Some(5.0 + 40.0 * rng.unit()), 0);
        cart.1.record(Some(f64::from(u8::from(j % 10 != 0))), 0);
        stock.1.record(Some(1000.0 - (i as u64 * 100 + j) as f64 * 0.1), i as u64 * 1_000_000 + j);
    }
    server_time.1.record(None, 0);
    snap.metrics.extend([orders, server_time, cart, stock]);
    let checks =
        [("browse", "status is 200", 0.0), ("buy", "checkout: status is 200", 0.02), ("buy", "cart < 500ms", 0.1)];
    for (sc, check, fail) in checks {
        let total = rate as u64 / 3;
        let fails = (total as f64 * fail) as u64;
        snap.checks.insert(CheckKey::plain(arc(sc), arc(check)), CheckCounts { passes: total - fails, fails });
    }
    snap
}

pub fn agents() -> Vec<AgentInfo> {
    ["agent-a", "agent-b"]
        .iter()
        .enumerate()
        .map(|(i, n)| AgentInfo {
            name: n.to_string(),
            address: format!("127.0.0.1:{}", 7000 + i),
            state: if i == 0 { AgentState::Running } else { AgentState::Lost },
            vus: 15,
            rps: 250.0,
            lag_p99_ms: Some(1.5),
            cpu_percent: Some(85.0),
            last_heartbeat: Instant::now(),
            requests: 12_345,
        })
        .collect()
}

/// The custom metrics of the synthetic run, and thresholds on them.
pub const CUSTOM_PLAN: &str = r#"
[target]
base_url = "http://127.0.0.1:1"
[metrics.orders]
kind = "counter"
[metrics.server_time]
kind = "trend"
time = true
[metrics.cart_not_empty]
kind = "rate"
[metrics.stock]
kind = "gauge"
[[flows.f.steps]]
name = "checkout"
url = "/"
metrics = [{ name = "orders" }, { name = "server_time", value = 1 }, { name = "cart_not_empty", value = 1 }, { name = "stock", value = 1 }]
[scenarios.buy]
executor = "constant-vus"
duration = "1s"
flow = "f"
[thresholds]
orders = ["count>100"]
"server_time{name:checkout}" = ["p(95)<20"]
cart_not_empty = ["rate>0.8"]
stock = ["value>=0"]
"#;

/// Thresholds as `run` would evaluate them: one passing, one failing, one
/// without samples; then the custom metrics' (evaluated).
pub fn thresholds(total: &Snapshot) -> Vec<ThresholdOutcome> {
    let checkout = TrendStats::of(total.by_name("checkout").duration());
    let all = TrendStats::of(total.all_requests().duration());
    let plan = stampede_scenario::parse_str(CUSTOM_PLAN, "custom.toml".as_ref(), &Default::default()).unwrap();
    let custom = stampede_metrics::summary::evaluate(&plan.thresholds, total, Duration::from_secs(10));
    let builtin = vec![
        ThresholdOutcome {
            metric: arc("http_req_duration"),
            threshold: arc("p(95)<10000"),
            passed: all.p95 < 10_000.0,
            observed: Some(all.p95),
            abort_on_fail: false,
            time: None,
        },
        ThresholdOutcome {
            metric: arc("http_req_duration{name:checkout}"),
            threshold: arc("p(95)<100"),
            passed: checkout.p95 < 100.0,
            observed: Some(checkout.p95),
            abort_on_fail: true,
            time: None,
        },
        ThresholdOutcome {
            metric: arc("http_req_duration{name:nothing}"),
            threshold: arc("p(99)<1"),
            passed: true,
            observed: None,
            abort_on_fail: false,
            time: None,
        },
    ];
    builtin.into_iter().chain(custom).collect()
}

/// Feeds `n` intervals to `outputs` (and to a live state), then finishes
/// them; returns the summary and the live state.
pub fn run(outputs: &mut [Box<dyn Output>], n: usize, rate: usize, seed: u64) -> (Summary, LiveState) {
    let mut rng = Rng::new(seed);
    let mut live = LiveState::new(
        "scenarios/synthetic.toml".into(),
        vec!["browse".into(), "buy".into()],
        Duration::from_secs(n as u64),
        60,
    );
    live.phase = Phase::Running;
    live.agents = agents();
    let mut vus_peak = 0;
    for i in 0..n {
        let snap = interval(i, rate, &mut rng);
        let (start, end) = (Duration::from_secs(i as u64), Duration::from_secs(i as u64 + 1));
        for o in outputs.iter_mut() {
            o.interval(start, end, &snap).unwrap();
        }
        vus_peak = vus_peak.max(snap.vus());
        live.push_interval(end, snap, 1.0);
    }
    live.thresholds = thresholds(&live.total);
    let summary = summary(&live, n, vus_peak);
    for o in outputs.iter_mut() {
        o.agents(&live.agents);
        o.finish(&summary).unwrap();
    }
    (summary, live)
}

pub fn summary(live: &LiveState, n: usize, vus_peak: u64) -> Summary {
    let passed = live.thresholds.iter().all(|t| t.passed);
    let info = RunInfo {
        scenario_file: "scenarios/synthetic.toml".into(),
        started_at_ms: STARTED_AT_MS,
        duration_s: n as f64,
        planned_duration_s: n as f64,
        outcome: "completed".into(),
        exit_code: if passed { 0 } else { 99 },
    };
    Summary::build(info, &live.total, live.thresholds.clone(), vus_peak)
}
