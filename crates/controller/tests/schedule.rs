//! The controller's own schedule on a synthetic source under paused time:
//! `delay_abort_eval` is honoured to the interval, whatever the run length.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_controller::{Outcome, Recorder, RunSpec, Source, SourceEnd, exit, run};
use stampede_engine::{IntervalSnapshot, Signal};
use stampede_metrics::live::LiveState;
use stampede_metrics::{CacheOutcome, ErrorKind, Layout, Method, RequestId, RequestSample, Shard};
use tokio::sync::watch;

/// One interval a second, every request failing, until aborted or 60 s.
struct Failing {
    layout: Arc<Layout>,
    started: Instant,
    index: u64,
    signal: watch::Sender<Signal>,
    aborted_at: Option<u64>,
}

impl Source for Failing {
    async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        if self.aborted_at.is_some() || self.index == 60 {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut shard = Shard::new(self.layout.clone());
        let failed = RequestSample {
            timings: Default::default(),
            bytes_sent: 0,
            bytes_received: 0,
            body_bytes: 0,
            error: Some(ErrorKind::Status5xx),
            cache: CacheOutcome::Unknown,
        };
        for _ in 0..10 {
            shard
                .request(RequestId { scenario: 0, name: 0, method: Method::Get, status: 503, group: 0, tags: 0 })
                .record(&failed);
        }
        let iv = IntervalSnapshot {
            index: self.index,
            start: Duration::from_secs(self.index),
            snapshot: shard.take().into_snapshot(),
        };
        self.index += 1;
        Some(iv)
    }
    fn signaller(&self) -> watch::Sender<Signal> {
        self.signal.clone()
    }
    fn started(&self) -> Instant {
        self.started
    }
    fn abort_by_threshold(&mut self, _threshold: &str) {
        self.aborted_at = Some(self.index);
    }
    fn in_process(&self) -> bool {
        true
    }
    async fn finish(self) -> SourceEnd {
        SourceEnd::default()
    }
}

#[tokio::test(start_paused = true)]
async fn abort_on_fail_waits_for_its_delay_to_the_interval() {
    let toml = r#"
[target]
base_url = "http://127.0.0.1:9"
[[flows.f.steps]]
name = "r"
url = "/"
[scenarios.s]
executor = "constant-vus"
flow = "f"
vus = 1
duration = "60s"
[thresholds]
http_req_failed = [{ threshold = "rate<0.01", abort_on_fail = true, delay_abort_eval = "30s" }]
"#;
    let plan = Arc::new(
        stampede_scenario::parse_str(toml, Path::new("t.toml"), &stampede_scenario::Overrides::default()).unwrap(),
    );
    let layout = stampede_engine::layout(&plan);
    let (signal, _) = watch::channel(Signal::Run);
    let started = tokio::time::Instant::now().into_std();
    let source = Failing { layout, started, index: 0, signal, aborted_at: None };
    let spec = RunSpec {
        plan: plan.clone(),
        scenario_file: "t.toml".into(),
        started_at_ms: 0,
        interval: Duration::from_secs(1),
        teardown: None,
    };
    let live = LiveState::new("t.toml".into(), vec!["s".into()], Duration::from_secs(60), 1).shared();
    let t0 = tokio::time::Instant::now();
    let f = run(&spec, source, &mut Recorder::default(), &live, &mut (), std::future::pending()).await;
    assert_eq!(f.outcome, Outcome::AbortedByThreshold);
    assert_eq!(f.exit_code, exit::THRESHOLDS_FAILED);
    // Failing from the first interval; evaluated for abort only from 30 s on:
    // the interval that ends at 30 s aborts it, not one before.
    assert_eq!(tokio::time::Instant::now() - t0, Duration::from_secs(30));
    let requests = serde_json::to_value(&f.summary.metrics["http_reqs"]).unwrap()["count"].as_u64().unwrap();
    assert_eq!(requests, 300, "every interval up to the abort is counted");
}
