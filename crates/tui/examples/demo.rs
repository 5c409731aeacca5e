//! A stand-in run for looking at the UI by hand and for trying
//! `tests/tmux.sh` before `stampede run` opens the UI: synthetic intervals
//! (two scenarios, four requests, a lost agent, failing requests) fed to
//! [`stampede_tui::run`] the way the run loop feeds the live state, and a
//! summary printed after the UI closes.
//!
//! ```text
//! cargo run -p stampede-tui --example demo                    # 60 s run
//! cargo run -p stampede-tui --example demo -- run x.toml      # same, stampede's argument shape
//! STAMPEDE_TUI_DEMO_PANIC=3 cargo run -p stampede-tui --example demo   # panics after 3 s
//! ```

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_metrics::live::{AgentInfo, AgentState, LiveState, Phase, Shared, StageInfo};
use stampede_metrics::shard::Layout;
use stampede_metrics::{
    CacheOutcome, ErrorKind, Method, RequestId, RequestSample, Shard, Snapshot, ThresholdOutcome, Timings,
};
use stampede_tui::Control;
use tokio::sync::{mpsc, oneshot};

const PLANNED: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let file = std::env::args().skip_while(|a| a != "run").nth(1).unwrap_or_else(|| "demo.toml".into());
    let panic_after = std::env::var("STAMPEDE_TUI_DEMO_PANIC").ok().and_then(|s| s.parse::<u64>().ok());
    if !std::io::stdout().is_terminal() {
        eprintln!("demo: stdout is not a terminal; the live UI needs one");
        std::process::exit(2);
    }
    let mut live = LiveState::new(file, vec!["browse".into(), "checkout".into()], PLANNED, 50);
    let stage = |scenario: &str, start: u64, secs: u64, label: &str| StageInfo {
        scenario: scenario.into(),
        start: Duration::from_secs(start),
        duration: Duration::from_secs(secs),
        label: label.into(),
    };
    live.stages = vec![
        stage("browse", 0, 20, "ramp 0→40 VUs"),
        stage("browse", 20, 30, "hold 40 VUs"),
        stage("browse", 50, 10, "ramp 40→0 VUs"),
        stage("checkout", 10, 40, "20/s"),
    ];
    live.phase = Phase::Running;
    let state = live.shared();
    let (controls, requests) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = oneshot::channel();
    let run = tokio::spawn(drive(state.clone(), requests, done_tx));
    let done = async move {
        if let Some(secs) = panic_after {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            panic!("demo: a deliberate panic while the UI runs");
        }
        let _ = done_rx.await;
    };
    let ui = stampede_tui::run(state.clone(), controls, done).await;
    // After an abort the UI returns first; the run then ends at once.
    let _ = run.await;
    ui?;
    let s = state.lock().unwrap_or_else(|p| p.into_inner());
    println!("\n  █ TOTAL RESULTS\n");
    println!("    http_reqs......: {}", s.total.total_requests());
    println!("    http_req_failed: {}", s.total.total_failed());
    println!("    duration.......: {:.1}s", s.elapsed.as_secs_f64());
    Ok(())
}

/// The "run loop": one interval a second, obeying the UI's controls.
async fn drive(state: Shared, mut controls: mpsc::UnboundedReceiver<Control>, done: oneshot::Sender<()>) {
    let layout = Arc::new(Layout {
        scenarios: vec!["browse".into(), "checkout".into()],
        request_names: vec!["home".into(), "product".into(), "search".into(), "checkout".into()],
        check_names: vec![],
        groups: vec!["".into()],
        tag_sets: vec![std::sync::Arc::from(Vec::new())],
        metrics: Vec::new(),
    });
    let start = Instant::now();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut paused = false;
    let mut stop_at: Option<Duration> = None;
    let mut controls_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let t = start.elapsed();
                let snapshot = interval(&layout, t, paused, &mut rng);
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                s.push_interval(t, snapshot, 1.0);
                update(&mut s, t);
                if t >= PLANNED || stop_at.is_some_and(|at| t >= at) {
                    break;
                }
            }
            c = controls.recv(), if controls_open => {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                match c {
                    Some(Control::Stop) => {
                        s.phase = Phase::Stopping;
                        s.event("stop asked: in-flight iterations finish");
                        stop_at = Some(start.elapsed() + Duration::from_secs(2));
                    }
                    Some(Control::Abort) => {
                        s.event("aborted");
                        break;
                    }
                    Some(Control::Pause) => {
                        paused = true;
                        s.paused = true;
                        s.event("paused");
                    }
                    Some(Control::Resume) => {
                        paused = false;
                        s.paused = false;
                        s.event("resumed");
                    }
                    None => controls_open = false,
                }
            }
        }
    }
    state.lock().unwrap_or_else(|p| p.into_inner()).phase = Phase::Done;
    let _ = done.send(());
}

fn next(rng: &mut u64) -> f64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    (*rng >> 11) as f64 / (1u64 << 53) as f64
}

/// One second of synthetic load: VUs follow the stages, latency grows with
/// load, search times out now and then, checkout fails under load.
fn interval(layout: &Arc<Layout>, t: Duration, paused: bool, rng: &mut u64) -> Snapshot {
    let secs = t.as_secs_f64();
    let vus = if secs < 20.0 {
        secs * 2.0
    } else if secs < 50.0 {
        40.0
    } else {
        (60.0 - secs).max(0.0) * 4.0
    };
    let load = if paused { 0.0 } else { vus / 40.0 };
    let mut shard = Shard::new(layout.clone());
    let mut record = |name: u32, scenario: u16, n: f64, base_ms: f64, fail: f64, hit: f64, rng: &mut u64| {
        for _ in 0..n as usize {
            let ms = base_ms * (1.0 + load) * (-(1.0 - next(rng)).ln()).max(0.05);
            let failed = next(rng) < fail * load;
            let (status, error) = match (failed, name) {
                (true, 2) => (0, Some(ErrorKind::Timeout)),
                (true, _) => (503, Some(ErrorKind::Status5xx)),
                _ => (200, None),
            };
            let cache = if hit < 0.0 {
                CacheOutcome::Unknown
            } else if next(rng) < hit {
                CacheOutcome::Hit
            } else {
                CacheOutcome::Miss
            };
            let id = RequestId {
                scenario,
                name,
                method: if name == 3 { Method::Post } else { Method::Get },
                status,
                group: 0,
                tags: 0,
            };
            let sample = RequestSample {
                timings: Timings { waiting: (ms * 1000.0) as u64, ..Timings::default() },
                bytes_sent: 300,
                bytes_received: 12_000,
                body_bytes: 11_000,
                error,
                cache,
            };
            shard.request(id).record(&sample);
        }
    };
    record(0, 0, 120.0 * load, 3.0, 0.0, 0.9, rng);
    record(1, 0, 200.0 * load, 18.0, 0.002, 0.6, rng);
    record(2, 0, 60.0 * load, 45.0, 0.02, -1.0, rng);
    let checkout_on = (10.0..50.0).contains(&secs) && !paused;
    record(3, 1, if checkout_on { 20.0 } else { 0.0 }, 150.0, 0.05, -1.0, rng);
    let browse = shard.scenario(0);
    browse.vus = vus as u64;
    browse.vus_max = 40;
    browse.iterations = (100.0 * load) as u64;
    let checkout = shard.scenario(1);
    checkout.vus = if checkout_on { 10 } else { 0 };
    checkout.vus_max = 10;
    checkout.iterations = if checkout_on { 20 } else { 0 };
    shard.into_snapshot()
}

/// Thresholds and agents as a coordinator would keep them.
fn update(s: &mut LiveState, t: Duration) {
    let checkout = s.total.by_name("checkout");
    let p95 = (!checkout.duration().is_empty()).then(|| checkout.duration().value_at_quantile(0.95) as f64 / 1000.0);
    let total = s.total.total_requests();
    let failed = (total > 0).then(|| s.total.total_failed() as f64 / total as f64);
    s.thresholds = vec![
        ThresholdOutcome {
            metric: "http_req_duration{name:checkout}".into(),
            threshold: "p(95)<500".into(),
            passed: p95.is_none_or(|v| v < 500.0),
            observed: p95,
            abort_on_fail: false,
            time: None,
        },
        ThresholdOutcome {
            metric: "http_req_failed".into(),
            threshold: "rate<0.01".into(),
            passed: failed.is_none_or(|v| v < 0.01),
            observed: failed,
            abort_on_fail: false,
            time: None,
        },
    ];
    let rps = s.now.map_or(0.0, |p| p.rps);
    let vus = s.last_interval.vus();
    let lost = t >= Duration::from_secs(25);
    if s.agents.is_empty() {
        for (name, address) in [("agent-1", "127.0.0.1:41001"), ("agent-2", "127.0.0.1:41002")] {
            s.agents.push(AgentInfo {
                name: name.into(),
                address: address.into(),
                state: AgentState::Running,
                vus: 0,
                rps: 0.0,
                lag_p99_ms: Some(0.4),
                cpu_percent: Some(20.0),
                last_heartbeat: Instant::now(),
                requests: 0,
            });
        }
    }
    let alive = if lost { 1 } else { 2 };
    for (i, a) in s.agents.iter_mut().enumerate() {
        if i == 1 && lost {
            a.state = AgentState::Lost;
            a.rps = 0.0;
            continue;
        }
        a.vus = vus / alive;
        a.rps = rps / alive as f64;
        a.requests = total / 2;
        a.cpu_percent = Some(10.0 + rps / 20.0);
        a.last_heartbeat = Instant::now();
    }
    if lost && !s.events.iter().any(|(_, e)| e.contains("lost")) {
        s.event("agent agent-2 lost: no heartbeat for 10 s; its VUs are not replaced");
    }
}
