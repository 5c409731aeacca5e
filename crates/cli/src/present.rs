//! What a person sees of a run: the live UI or progress lines, the
//! Prometheus endpoint, Ctrl-C handling and the summary printed at the end,
//! around the controller that runs it.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_controller::{Observer, OutputError, Progress, Recorder, RunSpec, Source};
use stampede_engine::Signal;
use stampede_metrics::Snapshot;
use stampede_metrics::live::{LiveState, Shared, StageInfo};
use stampede_report::outputs::RunContext;
use stampede_scenario::Plan;
use stampede_scenario::threshold::Threshold;

use crate::cli::ReportArgs;
use crate::exit;

/// Whether the live UI will run (stdout is a terminal and not `--headless`).
pub(crate) fn ui_wanted(headless: bool) -> bool {
    std::io::stdout().is_terminal() && !headless
}

/// Prints progress, threshold aborts and output failures when no live UI
/// shows them.
struct Printer {
    /// Progress lines and messages go to stderr (no UI, not `--quiet`).
    progress: bool,
    /// Messages the UI would otherwise show as events.
    messages: bool,
    every: Duration,
    last: Instant,
    /// Measurements since the last progress line.
    window: Snapshot,
    window_start: Duration,
}

impl Observer for Printer {
    fn interval(&mut self, p: &Progress<'_>) {
        self.window.accumulate(p.interval);
        if self.progress && self.last.elapsed() >= self.every {
            let span = p.elapsed.saturating_sub(self.window_start).as_secs_f64().max(1e-3);
            eprintln!("{}", progress_line(p.elapsed, p.planned, &self.window, p.total, span));
            self.window = Snapshot::default();
            self.window_start = p.elapsed;
            self.last = Instant::now();
        }
    }

    fn threshold_abort(&mut self, t: &Threshold, observed: Option<f64>) {
        if self.messages {
            eprintln!(
                "threshold {} '{}' failed (observed {}) and has abort_on_fail: aborting the run",
                t.selector,
                t.source,
                observed.map_or("-".into(), |v| format!("{v:.3}"))
            );
        }
    }

    fn output_failed(&mut self, e: &OutputError) {
        if self.messages {
            eprintln!("error: {e}; the run will exit with code {}", exit::ERROR);
        }
    }

    fn hook_step(&mut self, step: &stampede_engine::StepDone) {
        if self.progress {
            eprintln!("{}", hook_step_line(step));
        }
    }

    fn hook_done(&mut self, report: &stampede_engine::HookReport) {
        if let Some(f) = &report.failure {
            let code = stampede_controller::hook_exit_code(report).unwrap_or(exit::ERROR);
            eprintln!("error: {} failed: {f} (exit code {code} unless the run already failed)", report.kind.as_str());
        }
    }
}

/// "setup: 2/3 steps (`login` 200 in 12 ms)".
pub(crate) fn hook_step_line(s: &stampede_engine::StepDone) -> String {
    let status = if s.status == 0 { "no response".to_string() } else { s.status.to_string() };
    format!(
        "{}: {}/{} steps (`{}` {status} in {:.0} ms)",
        s.kind.as_str(),
        s.number,
        s.of,
        s.name,
        s.duration.as_secs_f64() * 1e3
    )
}

/// Runs a started source to its end through the controller, with what a
/// person sees around it: the live UI or progress lines, the Prometheus
/// endpoint, Ctrl-C (first: graceful stop; second: abort), and the summary
/// printed at the end. Returns the exit code.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn present(
    plan: &Arc<Plan>,
    file: &Path,
    report: &ReportArgs,
    source: impl Source,
    recorder: Recorder,
    metrics: Option<tokio::net::TcpListener>,
    ctx: RunContext,
    live: Shared,
    setup_values: stampede_engine::SetupValues,
) -> anyhow::Result<i32> {
    let (code, _) =
        present_finished(plan, file, report, source, recorder, metrics, ctx, live, setup_values, true).await?;
    Ok(code)
}

/// [`present`], returning the run's summary too; `print_summary: false`
/// leaves stdout to the caller (a k6 script's `handleSummary`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn present_finished(
    plan: &Arc<Plan>,
    file: &Path,
    report: &ReportArgs,
    source: impl Source,
    mut recorder: Recorder,
    metrics: Option<tokio::net::TcpListener>,
    ctx: RunContext,
    live: Shared,
    setup_values: stampede_engine::SetupValues,
    print_summary: bool,
) -> anyhow::Result<(i32, stampede_report::Summary)> {
    let signaller = source.signaller();
    let baseline = ctx.baseline.clone();
    // Live Prometheus endpoint, for as long as the run lasts (bound before
    // the load started, so a bad --metrics-listen stops nothing midway).
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(listener) = metrics {
        if !report.quiet && !ui_wanted(report.headless) {
            eprintln!("Prometheus metrics on http://{}/metrics", listener.local_addr()?);
        }
        tokio::spawn(stampede_report::serve_metrics(listener, live.clone(), async {
            let _ = metrics_stopped.await;
        }));
    }
    // Ctrl-C or SIGTERM: the first asks the controller for a graceful stop,
    // a second aborts.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let signaller = signaller.clone();
        tokio::spawn(async move {
            if !wait_for_stop_signal().await {
                return;
            }
            eprintln!("\nstopping gracefully: in-flight iterations may finish (Ctrl-C again to abort now)");
            let _ = stop_tx.send(());
            if wait_for_stop_signal().await {
                eprintln!("\naborting");
                let _ = signaller.send(Signal::Abort);
            }
        });
    }

    // The live UI when stdout is a terminal (and not --headless).
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let ui = ui_wanted(report.headless).then(|| {
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        // The UI's keys become run signals; the controller shows their effect.
        let signaller = signaller.clone();
        tokio::spawn(async move {
            while let Some(c) = ctl_rx.recv().await {
                use stampede_tui::Control;
                let _ = signaller.send(match c {
                    Control::Stop => Signal::Stop,
                    Control::Abort => Signal::Abort,
                    Control::Pause => Signal::Pause,
                    Control::Resume => Signal::Run,
                });
            }
        });
        tokio::spawn(stampede_tui::run(live.clone(), ctl_tx, async {
            let _ = done_rx.await;
        }))
    });

    let planned = plan.planned_duration();
    let mut printer = Printer {
        progress: !report.quiet && ui.is_none(),
        messages: ui.is_none(),
        every: Duration::from_secs(report.progress_every.max(1)),
        last: Instant::now(),
        window: Snapshot::default(),
        window_start: Duration::ZERO,
    };
    if printer.progress {
        eprintln!(
            "running {} — {} scenario(s), up to {} VUs, {:.0?} planned",
            file.display(),
            plan.scenarios.len(),
            plan.peak_vus(),
            planned
        );
    }
    let spec = RunSpec {
        plan: plan.clone(),
        scenario_file: file.display().to_string(),
        started_at_ms: ctx.started_at_ms,
        interval: ctx.interval,
        teardown: Some(setup_values),
    };
    let stop = async {
        let _ = stop_rx.await;
    };
    let finished = stampede_controller::run(&spec, source, &mut recorder, &live, &mut printer, stop).await;
    let _ = done_tx.send(());
    if let Some(ui) = ui
        && let Ok(Err(e)) = ui.await
    {
        eprintln!("warning: live UI: {e}");
    }
    let _ = metrics_stop.send(());

    let color = std::io::stdout().is_terminal();
    let mut text = stampede_report::text::render(&finished.summary, color);
    let agent_lines = agent_lines(&finished.end.agents);
    if !agent_lines.is_empty() {
        text.push_str("\n  █ AGENTS\n\n");
        for l in &agent_lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    if print_summary {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
    let failed = recorder.failed();
    if !failed.is_empty() {
        eprintln!("error: incomplete output(s): {}; exit code {}", failed.join(", "), finished.exit_code);
    }
    let code = match baseline
        .as_ref()
        .and_then(|slot| slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take())
    {
        Some(Ok(c)) => {
            let text = stampede_report::compare::render_text(&c);
            if print_summary {
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(format!("\n{text}").as_bytes());
                let _ = stdout.flush();
            } else {
                eprint!("\n{text}");
            }
            // A regression fails a run that passed; any other failure stands.
            if finished.exit_code == exit::OK { c.exit_code() } else { finished.exit_code }
        }
        Some(Err(e)) => {
            eprintln!("error: --baseline: {e}");
            if finished.exit_code == exit::OK { exit::INVALID_INPUT } else { finished.exit_code }
        }
        None => finished.exit_code,
    };
    Ok((code, finished.summary))
}

/// Who delivered what, for the summary: every agent of a few; of more than
/// [`AGENT_LINES`], those that did not finish, then one line for the rest
/// (the JSON summary's `agents` lists every one).
fn agent_lines(reports: &[stampede_coordinator::AgentReport]) -> Vec<String> {
    let total: u64 = reports.iter().map(|r| r.requests).sum::<u64>().max(1);
    if reports.len() <= AGENT_LINES {
        return reports.iter().map(|r| agent_line(r, total)).collect();
    }
    let (done, other): (Vec<_>, Vec<_>) =
        reports.iter().partition(|r| r.state == stampede_metrics::live::AgentState::Done);
    let mut lines: Vec<String> = other.iter().take(AGENT_LINES).map(|r| agent_line(r, total)).collect();
    if other.len() > AGENT_LINES {
        lines.push(format!("    … and {} more not done", other.len() - AGENT_LINES));
    }
    if !done.is_empty() {
        let mut requests: Vec<u64> = done.iter().map(|r| r.requests).collect();
        requests.sort_unstable();
        let pct = |n: u64| n as f64 * 100.0 / total as f64;
        let (min, median, max) = (requests[0], requests[requests.len() / 2], requests[requests.len() - 1]);
        lines.push(format!(
            "    {} agent(s) done: requests each min {min} ({:.2}%), median {median}, max {max} ({:.2}%); every agent is in --out summary=FILE",
            done.len(),
            pct(min),
            pct(max)
        ));
    }
    lines
}

/// Past this many agents the summary condenses its agent lines.
const AGENT_LINES: usize = 20;

fn agent_line(r: &stampede_coordinator::AgentReport, total: u64) -> String {
    format!(
        "    {:<16} {:<22} {:<7} {:>10} requests ({:>5.1}%) {:>9} iterations, planned up to {} VUs on {} core(s)",
        r.name,
        r.address,
        r.state.as_str(),
        r.requests,
        r.requests as f64 * 100.0 / total as f64,
        r.iterations,
        r.planned_vus,
        r.cores
    )
}

/// The live state of a run, with its stages for the progress gauge.
pub fn live_state(plan: &Plan, file: &Path, planned: Duration, peak: u64, interval: Duration) -> LiveState {
    let mut live = LiveState::new(
        file.display().to_string(),
        plan.scenarios.iter().map(|s| s.name.to_string()).collect(),
        planned,
        peak,
    );
    live.stages = stages(plan);
    live.interval = interval;
    live
}

fn progress_line(elapsed: Duration, planned: Duration, window: &Snapshot, total: &Snapshot, span: f64) -> String {
    let all = window.all_requests();
    let rps = all.count() as f64 / span;
    let p95 = stampede_metrics::hist::quantile_ms(all.duration(), 0.95);
    let err = all.error_rate() * 100.0;
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
pub(crate) async fn wait_for_stop_signal() -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::live::AgentState;

    fn report(i: u64, state: AgentState) -> stampede_coordinator::AgentReport {
        stampede_coordinator::AgentReport {
            name: format!("agent-{i:03}"),
            address: "10.0.0.1:7000".into(),
            state,
            requests: 1_000 + i,
            iterations: 10,
            planned_vus: 5,
            cores: 1,
        }
    }

    #[test]
    fn hundreds_of_agents_take_a_few_summary_lines_not_hundreds() {
        let few: Vec<_> = (0..3).map(|i| report(i, AgentState::Done)).collect();
        assert_eq!(agent_lines(&few).len(), 3, "a few: one line each");
        let mut many: Vec<_> = (0..200).map(|i| report(i, AgentState::Done)).collect();
        many[17].state = AgentState::Lost;
        let lines = agent_lines(&many);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].contains("agent-017") && lines[0].contains("lost"), "{}", lines[0]);
        assert!(
            lines[1].contains("199 agent(s) done: requests each min 1000")
                && lines[1].contains("median 1100")
                && lines[1].contains("max 1199"),
            "{}",
            lines[1]
        );
    }
}
