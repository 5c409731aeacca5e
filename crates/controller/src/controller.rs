//! The interval loop of one run.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use stampede_engine::{HookKind, HookReport, Signal, StepDone};
use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentState, Phase, Shared, lock};
use stampede_metrics::summary::evaluate;
use stampede_report::{RunInfo, Summary};
use stampede_scenario::Plan;
use stampede_scenario::threshold::Threshold;

use crate::outcome::{Outcome, exit};
use crate::recorder::{OutputError, Recorder};
use crate::source::{Source, SourceEnd};

/// What a run is, beyond its source.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub plan: Arc<Plan>,
    /// The scenario file, as the summary names it.
    pub scenario_file: String,
    /// Unix time of the start in milliseconds (the summary's `started_at_ms`).
    pub started_at_ms: u64,
    /// Nominal interval length.
    pub interval: Duration,
    /// `Some`: this process controls the run, so it runs the plan's
    /// `[teardown]` (if any) once the load is over, with these setup values.
    /// `None` for an agent's own record of its part.
    pub teardown: Option<stampede_engine::SetupValues>,
}

/// One merged interval, as an [`Observer`] sees it.
#[derive(Debug)]
pub struct Progress<'a> {
    /// Time since the load started.
    pub elapsed: Duration,
    pub planned: Duration,
    /// This interval's measurements and length in seconds.
    pub interval: &'a Snapshot,
    pub secs: f64,
    /// Everything so far.
    pub total: &'a Snapshot,
}

/// Hears what a run does, to print it (the controller prints nothing).
pub trait Observer {
    /// After each merged interval.
    fn interval(&mut self, _progress: &Progress<'_>) {}
    /// A threshold with `abort_on_fail` failed: the run is being aborted.
    fn threshold_abort(&mut self, _threshold: &Threshold, _observed: Option<f64>) {}
    /// An output failed for the first time; the run goes on without it.
    fn output_failed(&mut self, _error: &OutputError) {}
    /// A step of `[teardown]` ended.
    fn hook_step(&mut self, _step: &StepDone) {}
    /// `[teardown]` ended.
    fn hook_done(&mut self, _report: &HookReport) {}
}

impl Observer for () {}

/// How a run ended, with everything it measured.
#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    pub exit_code: i32,
    pub summary: Summary,
    pub end: SourceEnd,
}

/// Time since `start` on tokio's clock (the same as the system's, except
/// under `tokio::time::pause()`, where schedules are tested).
fn since(start: std::time::Instant) -> Duration {
    tokio::time::Instant::now().saturating_duration_since(tokio::time::Instant::from_std(start))
}

/// Runs `source` to its end: feeds `live` and `recorder` every interval,
/// evaluates thresholds live (aborting on an `abort_on_fail` failure once its
/// `delay_abort_eval` has passed), asks for a graceful stop when `shutdown`
/// resolves, and returns the outcome once everything measured has been
/// recorded. A stop or abort sent through the source's signaller by anyone
/// else (a second Ctrl-C, the UI) makes the outcome `Interrupted`.
pub async fn run<S: Source>(
    spec: &RunSpec,
    mut source: S,
    recorder: &mut Recorder,
    live: &Shared,
    observer: &mut dyn Observer,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Finished {
    let plan = &spec.plan;
    let signaller = source.signaller();
    let signals = signaller.subscribe();
    let planned = plan.planned_duration();
    let graceful = {
        let signaller = signaller.clone();
        tokio::spawn(async move {
            shutdown.await;
            if matches!(*signaller.borrow(), Signal::Run | Signal::Pause) {
                let _ = signaller.send(Signal::Stop);
            }
        })
    };
    // The one writer of the run's phase and pause state: whoever sent a
    // signal (Ctrl-C, the UI, a threshold), the live view shows its effect.
    let shown = {
        let (mut signals, live) = (signaller.subscribe(), live.clone());
        tokio::spawn(async move {
            while signals.changed().await.is_ok() {
                let sig = *signals.borrow_and_update();
                let mut state = lock(&live);
                match sig {
                    Signal::Pause | Signal::Run => state.paused = sig == Signal::Pause,
                    Signal::Stop | Signal::Abort => state.phase = Phase::Stopping,
                }
            }
        })
    };

    let mut vus_peak = 0u64;
    let mut aborted_by_threshold = false;
    lock(live).phase = Phase::Running;
    while let Some(iv) = source.next_interval().await {
        let elapsed = since(source.started());
        let end = (iv.start + spec.interval).min(elapsed.max(iv.start));
        for e in recorder.interval(iv.start, end, &iv.snapshot) {
            lock(live).event(e.to_string());
            observer.output_failed(&e);
        }
        vus_peak = vus_peak.max(iv.snapshot.vus());
        let secs = (end - iv.start).as_secs_f64();
        let mut guard = lock(live);
        let state = &mut *guard;
        state.push_interval(end, iv.snapshot, secs);
        state.thresholds = evaluate(&plan.thresholds, &state.total, elapsed);
        if source.in_process()
            && let Some(a) = state.agents.first_mut()
        {
            a.vus = state.last_interval.vus();
            a.rps = state.now.map_or(0.0, |p| p.rps);
            a.requests = state.total.total_requests();
            a.last_heartbeat = std::time::Instant::now();
        }
        observer.interval(&Progress { elapsed, planned, interval: &state.last_interval, secs, total: &state.total });
        if !aborted_by_threshold {
            let failing = plan
                .thresholds
                .iter()
                .zip(state.thresholds.iter())
                .find(|(t, o)| !o.passed && t.abort_on_fail && elapsed >= t.delay_abort_eval);
            if let Some((t, o)) = failing {
                observer.threshold_abort(t, o.observed);
                state.event(format!("threshold {} '{}' failed with abort_on_fail: run aborted", t.selector, t.source));
                state.phase = Phase::Stopping;
                aborted_by_threshold = true;
                let selector = t.selector.clone();
                drop(guard);
                source.abort_by_threshold(&selector);
                continue;
            }
        }
    }
    graceful.abort();
    shown.abort();
    let elapsed = since(source.started());
    let stopped_from_outside = matches!(*signals.borrow(), Signal::Stop | Signal::Abort) && !aborted_by_threshold;
    let in_process = source.in_process();
    let end = source.finish().await;
    // As k6: teardown runs after the last VU stopped, also after a threshold
    // abort or a first Ctrl-C, but not after a hard stop (a second Ctrl-C).
    let hard_stopped = *signals.borrow() == Signal::Abort && !aborted_by_threshold;
    let teardown = match &spec.teardown {
        Some(values) if plan.teardown.is_some() && !hard_stopped => {
            Some(teardown(plan, values.clone(), signaller.subscribe(), observer).await)
        }
        _ => None,
    };

    let outcome = if let Some(o) = end.outcome {
        o
    } else if aborted_by_threshold {
        Outcome::AbortedByThreshold
    } else if stopped_from_outside {
        Outcome::Interrupted
    } else if !end.lost.is_empty() {
        Outcome::Degraded
    } else {
        Outcome::Completed
    };
    let (total, agents) = {
        let mut state = lock(live);
        state.phase = Phase::Done;
        if in_process && let Some(a) = state.agents.first_mut() {
            a.state = AgentState::Done;
        }
        (std::mem::take(&mut state.total), state.agents.clone())
    };
    let outcomes = evaluate(&plan.thresholds, &total, elapsed);
    let passed = outcomes.iter().all(|o| o.passed);
    // Results the user asked for are incomplete: that outranks what they say.
    let mut exit_code = if recorder.failed().is_empty() { outcome.exit_code(passed) } else { exit::ERROR };
    // A failed teardown turns a passing exit code into its own; a code that
    // already says the run failed stays.
    if let Some(code) = teardown.as_ref().and_then(crate::outcome::hook_exit_code)
        && matches!(exit_code, exit::OK | exit::DEGRADED)
    {
        exit_code = code;
    }
    let info = RunInfo {
        scenario_file: spec.scenario_file.clone(),
        started_at_ms: spec.started_at_ms,
        duration_s: elapsed.as_secs_f64(),
        planned_duration_s: planned.as_secs_f64(),
        outcome: outcome.as_str().into(),
        exit_code,
    };
    let mut summary = Summary::build(info, &total, outcomes, vus_peak);
    for e in recorder.finish(&mut summary, &agents) {
        observer.output_failed(&e);
        summary.run.exit_code = exit::ERROR;
    }
    let exit_code = summary.run.exit_code;
    Finished { outcome, exit_code, summary, end }
}

/// Runs the plan's `[teardown]` with the setup's values; a hard stop
/// (`Abort` on `signals`) meanwhile interrupts it.
async fn teardown(
    plan: &Arc<Plan>,
    values: stampede_engine::SetupValues,
    mut signals: tokio::sync::watch::Receiver<Signal>,
    observer: &mut dyn Observer,
) -> HookReport {
    let (tx, mut steps) = tokio::sync::mpsc::unbounded_channel();
    let hook = stampede_engine::run_hook(plan.clone(), HookKind::Teardown, values, None, fastrand::u64(..), move |s| {
        let _ = tx.send(s.clone());
    });
    let mut hook = std::pin::pin!(hook);
    let report = loop {
        tokio::select! {
            r = &mut hook => break r,
            Some(s) = steps.recv() => observer.hook_step(&s),
            changed = signals.changed() => {
                if changed.is_err() || *signals.borrow_and_update() == Signal::Abort {
                    break Ok(interrupted(plan));
                }
            }
        }
    };
    while let Ok(s) = steps.try_recv() {
        observer.hook_step(&s);
    }
    let report = report.unwrap_or_else(|e| HookReport {
        failure: Some(stampede_engine::HookFailure::Step {
            number: 0,
            of: plan.teardown.as_ref().map_or(0, |f| f.steps.len()),
            name: "teardown".into(),
            what: format!("could not start: {e}"),
        }),
        ..interrupted(plan)
    });
    observer.hook_done(&report);
    report
}

fn interrupted(plan: &Plan) -> HookReport {
    HookReport {
        kind: HookKind::Teardown,
        steps: plan.teardown.as_ref().map_or(0, |f| f.steps.len()),
        passed: 0,
        requests: 0,
        elapsed: Duration::ZERO,
        values: Arc::from([]),
        measured: Snapshot::default(),
        failure: Some(stampede_engine::HookFailure::Interrupted),
    }
}
