//! `stampede run`: a plan on this machine, headless, with live progress,
//! live thresholds, graceful Ctrl-C, and a summary at the end.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use stampede_engine::schedule::{plan_duration, plan_peak_vus};
use stampede_engine::{Run, RunOptions, Signal};
use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentInfo, AgentState, LiveState, Phase, Shared, StageInfo};
use stampede_metrics::summary::evaluate;
use stampede_report::outputs::RunContext;
use stampede_report::{RunInfo, Summary};
use stampede_scenario::Plan;

use crate::cli::RunArgs;
use crate::exit;

/// Descriptors kept for things other than VU connections (listeners, files,
/// the runtime, DNS).
const FD_RESERVE: u64 = 256;

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Interrupted,
    AbortedByThreshold,
}

pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let plan = match crate::load_plan(&args.file, &args.overrides) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("{e}");
            return Ok(exit::INVALID_INPUT);
        }
    };
    let limit = raise_nofile_limit();
    let peak = plan_peak_vus(&plan);
    if peak + FD_RESERVE > limit {
        eprintln!(
            "error: this plan can run {peak} VUs at once, each with its own connection, but this process may open only {limit} files \
             (hard limit, `ulimit -Hn`).\n  help: lower the VUs, raise the hard limit, or spread the run over several machines"
        );
        return Ok(exit::INVALID_INPUT);
    }
    let started_wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ctx = RunContext {
        scenario_file: args.file.display().to_string(),
        started_at_ms: started_wall.as_millis() as u64,
        interval: Duration::from_secs(1),
    };
    let mut outputs = Vec::new();
    for (kind, path) in &args.out {
        outputs.push(
            stampede_report::outputs::open(kind, path, &ctx)
                .with_context(|| format!("cannot write {kind} output {}", path.display()))?,
        );
    }

    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32)).max(1);
    let mut opts = RunOptions::local(workers);
    if let Some(seed) = args.seed {
        opts.seed = seed;
    }
    let planned = plan_duration(&plan);
    let live = live_state(&plan, &args.file, planned, peak).shared();
    let mut run = Run::start(plan.clone(), opts).context("starting worker threads")?;
    let signaller = run.signaller();

    // Ctrl-C: first asks for a graceful stop, second aborts.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (signaller, interrupted) = (signaller.clone(), interrupted.clone());
        tokio::spawn(async move {
            let mut presses = 0;
            loop {
                if !wait_for_stop_signal().await {
                    return;
                }
                presses += 1;
                interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                if presses == 1 {
                    eprintln!("\nstopping gracefully: in-flight iterations may finish (Ctrl-C again to abort now)");
                    let _ = signaller.send(Signal::Stop);
                } else {
                    eprintln!("\naborting");
                    let _ = signaller.send(Signal::Abort);
                    return;
                }
            }
        });
    }

    let mut vus_peak = 0u64;
    let mut aborted_by_threshold = false;
    let mut last_progress = Instant::now();
    let mut window = Snapshot::default();
    let mut window_start = Duration::ZERO;
    let progress = !args.quiet;
    let every = Duration::from_secs(args.progress_every.max(1));
    if progress {
        eprintln!(
            "running {} — {} scenario(s), up to {peak} VUs, {:.0?} planned, {workers} worker(s)",
            args.file.display(),
            plan.scenarios.len(),
            planned
        );
    }
    lock(&live).phase = Phase::Running;
    let mut output_failed = false;
    while let Some(iv) = run.next_interval().await {
        let elapsed = run.start.elapsed();
        let end = (iv.start + ctx.interval).min(elapsed.max(iv.start));
        for o in outputs.iter_mut() {
            if let Err(e) = o.interval(iv.start, end, &iv.snapshot)
                && !output_failed
            {
                eprintln!("warning: an output failed: {e}");
                output_failed = true;
            }
        }
        window.accumulate(&iv.snapshot);
        vus_peak = vus_peak.max(iv.snapshot.vus());
        let secs = (end - iv.start).as_secs_f64();
        let mut guard = lock(&live);
        let state = &mut *guard;
        state.push_interval(end, iv.snapshot, secs);
        state.thresholds = evaluate(&plan.thresholds, &state.total, elapsed);
        if let Some(a) = state.agents.first_mut() {
            a.vus = state.last_interval.vus();
            a.rps = state.points.back().map_or(0.0, |p| p.rps);
            a.requests = state.total.total_requests();
            a.last_heartbeat = std::time::Instant::now();
        }
        let total = &state.total;
        if progress && last_progress.elapsed() >= every {
            let span = elapsed.saturating_sub(window_start).as_secs_f64().max(1e-3);
            eprintln!("{}", progress_line(elapsed, planned, &window, &total, span));
            window = Snapshot::default();
            window_start = elapsed;
            last_progress = Instant::now();
        }
        if !aborted_by_threshold && !plan.thresholds.is_empty() {
            for (t, o) in plan.thresholds.iter().zip(state.thresholds.iter()) {
                if !o.passed && t.abort_on_fail && elapsed >= t.delay_abort_eval {
                    eprintln!(
                        "threshold {} '{}' failed (observed {}) and has abort_on_fail: aborting the run",
                        t.selector,
                        t.source,
                        o.observed.map_or("-".into(), |v| format!("{v:.3}"))
                    );
                    aborted_by_threshold = true;
                    let _ = signaller.send(Signal::Abort);
                    break;
                }
            }
        }
        if aborted_by_threshold {
            state.event("a threshold with abort_on_fail failed: run aborted");
        }
    }
    let elapsed = run.start.elapsed();
    run.join();

    let outcome = if aborted_by_threshold {
        Outcome::AbortedByThreshold
    } else if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        Outcome::Interrupted
    } else {
        Outcome::Completed
    };
    let total = {
        let mut state = lock(&live);
        state.phase = Phase::Done;
        if let Some(a) = state.agents.first_mut() {
            a.state = AgentState::Done;
        }
        std::mem::take(&mut state.total)
    };
    let outcomes = evaluate(&plan.thresholds, &total, elapsed);
    let passed = outcomes.iter().all(|o| o.passed);
    let code = match outcome {
        Outcome::Interrupted => exit::INTERRUPTED,
        Outcome::AbortedByThreshold => exit::THRESHOLDS_FAILED,
        Outcome::Completed if !passed => exit::THRESHOLDS_FAILED,
        Outcome::Completed => exit::OK,
    };
    let info = RunInfo {
        scenario_file: args.file.display().to_string(),
        started_at_ms: started_wall.as_millis() as u64,
        duration_s: elapsed.as_secs_f64(),
        planned_duration_s: planned.as_secs_f64(),
        outcome: match outcome {
            Outcome::Completed => "completed",
            Outcome::Interrupted => "interrupted",
            Outcome::AbortedByThreshold => "aborted_by_threshold",
        }
        .into(),
        exit_code: code,
    };
    let summary = Summary::build(info, &total, outcomes, vus_peak);
    let color = std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let _ = signaller;
    let _ = stdout.write_all(stampede_report::text::render(&summary, color).as_bytes());
    let _ = stdout.flush();
    for o in outputs.iter_mut() {
        if let Err(e) = o.finish(&summary) {
            eprintln!("error: writing an output failed: {e}");
            return Ok(exit::ERROR);
        }
    }
    Ok(code)
}

fn progress_line(elapsed: Duration, planned: Duration, window: &Snapshot, total: &Snapshot, span: f64) -> String {
    let all = window.all_requests();
    let rps = all.count as f64 / span;
    let p95 = if all.duration.is_empty() { 0.0 } else { all.duration.value_at_quantile(0.95) as f64 / 1000.0 };
    let err = if all.count > 0 { all.failed as f64 * 100.0 / all.count as f64 } else { 0.0 };
    format!(
        "[{:>6.1}s/{:.0}s] vus {:>5}/{:<5} rps {:>8.1} p95 {:>9} errors {:>5.2}% reqs {}",
        elapsed.as_secs_f64(),
        planned.as_secs_f64(),
        total.vus(),
        total.vus_max(),
        rps,
        stampede_report::text::fmt_ms(p95),
        err,
        total.total_requests()
    )
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, LiveState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The live state of a local run, with its stages for the progress gauge.
pub fn live_state(plan: &Plan, file: &std::path::Path, planned: Duration, peak: u64) -> LiveState {
    let mut live = LiveState::new(
        file.display().to_string(),
        plan.scenarios.iter().map(|s| s.name.to_string()).collect(),
        planned,
        peak,
    );
    live.stages = stages(plan);
    live.agents.push(AgentInfo {
        name: "local".into(),
        address: "in-process".into(),
        state: AgentState::Running,
        vus: 0,
        rps: 0.0,
        lag_p99_ms: None,
        cpu_percent: None,
        last_heartbeat: std::time::Instant::now(),
        requests: 0,
    });
    live
}

/// Every scenario's stages on the run's time line.
pub fn stages(plan: &Plan) -> Vec<StageInfo> {
    use stampede_scenario::Executor as E;
    let mut out = Vec::new();
    for s in &plan.scenarios {
        let mut at = s.start_time;
        let mut push = |d: Duration, label: String| {
            out.push(StageInfo { scenario: s.name.to_string(), start: at, duration: d, label });
            at += d;
        };
        match &s.executor {
            E::RampingVus { start_vus, stages, .. } => {
                let mut from = *start_vus;
                for st in stages {
                    let label = if st.target == from {
                        format!("hold {} VUs", st.target)
                    } else {
                        format!("ramp {from}→{} VUs", st.target)
                    };
                    push(st.duration, label);
                    from = st.target;
                }
            }
            E::RampingArrivalRate { start_rate, time_unit, stages, .. } => {
                let mut from = *start_rate;
                for st in stages {
                    let unit = stampede_scenario::format_duration(*time_unit);
                    let label = if st.target == from {
                        format!("hold {}/{unit}", st.target)
                    } else {
                        format!("ramp {from}→{}/{unit}", st.target)
                    };
                    push(st.duration, label);
                    from = st.target;
                }
            }
            E::ConstantVus { vus, duration } => push(*duration, format!("{vus} VUs")),
            E::ConstantArrivalRate { rate, time_unit, duration, .. } => {
                push(*duration, format!("{rate}/{}", stampede_scenario::format_duration(*time_unit)))
            }
            E::SharedIterations { vus, iterations, max_duration } => {
                push(*max_duration, format!("{iterations} iterations over {vus} VUs (max)"))
            }
            E::PerVuIterations { vus, iterations, max_duration } => {
                push(*max_duration, format!("{iterations} iterations × {vus} VUs (max)"))
            }
        }
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM; `false` if signals cannot be watched.
async fn wait_for_stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else { return tokio::signal::ctrl_c().await.is_ok() };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
