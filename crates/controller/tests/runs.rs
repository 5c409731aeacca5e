//! Whole runs driven by the controller in this process, against a loopback
//! server: threshold aborts, stop requests, agent loss, outputs.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use stampede_controller::{Cluster, InProcess, Observer, Outcome, OutputError, Recorder, RunSpec, exit, run};
use stampede_engine::{Run, RunOptions};
use stampede_metrics::live::{LiveState, Shared};
use stampede_report::outputs::RunContext;
use stampede_scenario::{Overrides, Plan};

/// A server on 127.0.0.1 that answers `/fail` with 503 and anything else
/// with 200; counts requests.
async fn server() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    c.fetch_add(1, Ordering::Relaxed);
                    let status = if req.uri().path() == "/fail" { 503 } else { 200 };
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder().status(status).body(Full::new(Bytes::from_static(b"ok"))).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    (url, count)
}

fn plan(toml: &str) -> Arc<Plan> {
    Arc::new(stampede_scenario::parse_str(toml, Path::new("t.toml"), &Overrides::default()).unwrap())
}

fn spec(plan: &Arc<Plan>) -> RunSpec {
    RunSpec {
        plan: plan.clone(),
        scenario_file: "t.toml".into(),
        started_at_ms: 1,
        interval: Duration::from_secs(1),
        teardown: None,
    }
}

fn live(plan: &Plan) -> Shared {
    LiveState::new("t.toml".into(), plan.scenarios.iter().map(|s| s.name.to_string()).collect(), Duration::ZERO, 0)
        .shared()
}

fn in_process(plan: &Arc<Plan>) -> InProcess {
    InProcess(Run::start(plan.clone(), RunOptions::local(2)).unwrap())
}

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

#[derive(Default)]
struct Seen {
    aborts: Vec<String>,
    output_failures: Vec<String>,
    intervals: usize,
}

impl Observer for Seen {
    fn interval(&mut self, _: &stampede_controller::Progress<'_>) {
        self.intervals += 1;
    }
    fn threshold_abort(&mut self, t: &stampede_scenario::threshold::Threshold, _: Option<f64>) {
        self.aborts.push(t.selector.to_string());
    }
    fn output_failed(&mut self, e: &OutputError) {
        self.output_failures.push(e.to_string());
    }
}

fn steady(url: &str, path: &str, extra: &str) -> String {
    format!(
        r#"
[target]
base_url = "{url}"
think_time = "50ms"
[[flows.f.steps]]
url = "{path}"
[scenarios.s]
executor = "constant-vus"
flow = "f"
vus = 2
duration = "30s"
graceful_stop = "1s"
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_threshold_with_abort_on_fail_aborts_once_its_delay_has_passed() {
    let (url, _) = server().await;
    let p = plan(&steady(
        &url,
        "/fail",
        r#"[thresholds]
http_req_failed = [{ threshold = "rate<0.01", abort_on_fail = true, delay_abort_eval = "2s" }]"#,
    ));
    let mut seen = Seen::default();
    let t0 = Instant::now();
    let f = run(&spec(&p), in_process(&p), &mut Recorder::default(), &live(&p), &mut seen, never()).await;
    let took = t0.elapsed();
    assert_eq!(f.outcome, Outcome::AbortedByThreshold);
    assert_eq!(f.exit_code, exit::THRESHOLDS_FAILED);
    assert_eq!(seen.aborts, ["http_req_failed"]);
    // Not before its delay (the first failing interval ends at 1 s), and
    // long before the 30 s the scenario would run.
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "{took:?}");
    assert_eq!(f.summary.run.outcome, "aborted_by_threshold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_request_ends_the_run_interrupted_with_every_answered_request_counted() {
    let (url, count) = server().await;
    let p = plan(&steady(&url, "/ok", ""));
    let stop = tokio::time::sleep(Duration::from_millis(1500));
    let f = run(&spec(&p), in_process(&p), &mut Recorder::default(), &live(&p), &mut (), stop).await;
    assert_eq!(f.outcome, Outcome::Interrupted);
    assert_eq!(f.exit_code, exit::INTERRUPTED);
    let requests = f.summary.metrics.get("http_reqs").map(|m| serde_json::to_value(m).unwrap()["count"].clone());
    assert_eq!(requests, Some(serde_json::json!(count.load(Ordering::Relaxed))));
    assert!(count.load(Ordering::Relaxed) > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_complete_and_a_failing_one_is_reported_once_while_the_others_go_on() {
    let (url, count) = server().await;
    let p = plan(&format!(
        r#"
[target]
base_url = "{url}"
think_time = "20ms"
[[flows.f.steps]]
url = "/ok"
[scenarios.s]
executor = "shared-iterations"
flow = "f"
vus = 2
iterations = 100
"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("run.json"), dir.path().join("run.csv"));
    let ctx = RunContext {
        scenario_file: "t.toml".into(),
        started_at_ms: 1,
        interval: Duration::from_secs(1),
        baseline: None,
    };
    // /dev/full accepts the open and fails every write with ENOSPC, as a full
    // disk does: the HTML report, written at the end, is lost.
    let open = |kind: &str, path: &Path| {
        let output = stampede_report::outputs::open(kind, path, &ctx).unwrap();
        (format!("{kind} output {}", path.display()), output)
    };
    let mut recorder =
        Recorder::new(vec![open("summary", &json), open("html", Path::new("/dev/full")), open("csv", &csv)]);
    let mut seen = Seen::default();
    let f = run(&spec(&p), in_process(&p), &mut recorder, &live(&p), &mut seen, never()).await;
    assert_eq!(f.outcome, Outcome::Completed);
    assert_eq!(f.exit_code, exit::ERROR, "an output was lost: not a clean pass");
    assert_eq!(seen.output_failures.len(), 1, "{:?}", seen.output_failures);
    assert!(seen.output_failures[0].contains("html output /dev/full"), "{:?}", seen.output_failures);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["metrics"]["http_reqs"]["count"], 100);
    assert_eq!(count.load(Ordering::Relaxed), 100);
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert!(rows.lines().count() > 1, "the CSV has its interval rows: {rows}");
    assert!(seen.intervals >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_an_agent_makes_the_run_degraded_and_keeps_what_it_delivered() {
    let (url, count) = server().await;
    let toml = steady(&url, "/ok", "").replace("30s", "6s");
    let p = plan(&toml);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = stampede_coordinator::CoordinatorConfig {
        expected_agents: 2,
        token: None,
        agent_timeout: Duration::from_secs(20),
        on_agent_loss: stampede_coordinator::LossPolicy::Continue,
        interval: Duration::from_secs(1),
        seed: 7,
        scenario_toml: toml.clone(),
        scenario_name: "t.toml".into(),
        data_files: Vec::new(),
        overrides: Default::default(),
        print: false,
    };
    let state = live(&p);
    let mut coordinator = stampede_coordinator::Coordinator::serve(cfg, listener, None, state.clone()).unwrap();
    let agent = |name: &str| stampede_agent::AgentConfig {
        coordinator: format!("http://{addr}"),
        token: None,
        name: name.into(),
        max_vus: 0,
        max_connections: 0,
        allow: Default::default(),
        workers: 1,
        once: true,
        tls_ca: None,
        labels: Vec::new(),
        quiet: true,
        local_record: None,
    };
    let keeper = tokio::spawn(stampede_agent::run(agent("keeper"), never()));
    let victim = tokio::spawn(stampede_agent::run(agent("victim"), never()));
    coordinator.wait_for_agents().await.unwrap();
    coordinator.start(&p).await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Dropping the agent's session closes its stream and stops its load.
        victim.abort();
    });
    let f = run(&spec(&p), Cluster(Box::new(coordinator)), &mut Recorder::default(), &state, &mut (), never()).await;
    let _ = keeper.await;
    assert_eq!(f.outcome, Outcome::Degraded);
    assert_eq!(f.exit_code, exit::DEGRADED);
    assert_eq!(f.end.lost, ["victim"]);
    let reported: u64 = f.end.agents.iter().map(|a| a.requests).sum();
    let counted = serde_json::to_value(&f.summary.metrics["http_reqs"]).unwrap()["count"].as_u64().unwrap();
    assert_eq!(reported, counted);
    let victim_requests = f.end.agents.iter().find(|a| a.name == "victim").unwrap().requests;
    assert!(victim_requests > 0, "what the lost agent delivered is kept");
    // Only what the victim did after its last snapshot can be missing.
    assert!(count.load(Ordering::Relaxed) >= counted);
}
