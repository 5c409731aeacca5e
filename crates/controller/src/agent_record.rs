//! An agent's own `--out` files: each of its runs recorded as a coordinator
//! records a whole run (the same [`Recorder`]), with the run's true outcome,
//! start time and interval from what the agent was told.

use std::time::{Duration, Instant};

use stampede_agent::LocalRecord;
use stampede_report::outputs::RunContext;

use crate::outcome::{Outcome, exit};
use crate::recorder::{OutputError, Recorder};

/// Records every run the agent reports on `rx` until it closes: `open`
/// makes the run's outputs when it starts (each run overwrites them), and
/// `failed` hears of an output that could not be written.
pub async fn record_agent_runs(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<LocalRecord>,
    mut open: impl FnMut(&RunContext) -> Recorder,
    mut failed: impl FnMut(&OutputError),
) {
    let mut recorder = Recorder::default();
    let mut total = stampede_metrics::Snapshot::default();
    let (mut ctx, mut started, mut planned) = (None::<RunContext>, Instant::now(), Duration::ZERO);
    while let Some(msg) = rx.recv().await {
        match msg {
            LocalRecord::Started { scenario, interval, started_at_ms, planned: p } => {
                let c = RunContext { scenario_file: scenario, started_at_ms, interval, baseline: None };
                recorder = open(&c);
                (ctx, started, planned) = (Some(c), Instant::now(), p);
                total = stampede_metrics::Snapshot::default();
            }
            LocalRecord::Interval(iv) => {
                let interval = ctx.as_ref().map_or(Duration::from_secs(1), |c| c.interval);
                recorder.interval(iv.start, iv.start + interval, &iv.snapshot).iter().for_each(&mut failed);
                total.accumulate(&iv.snapshot);
            }
            LocalRecord::Finished { outcome } => {
                let Some(c) = ctx.take() else { continue };
                let exit_code = match outcome {
                    "interrupted" => Outcome::Interrupted.exit_code(true),
                    "aborted_by_threshold" => Outcome::AbortedByThreshold.exit_code(true),
                    "aborted" => exit::ERROR,
                    _ => Outcome::Completed.exit_code(true),
                };
                let info = stampede_report::RunInfo {
                    scenario_file: c.scenario_file,
                    started_at_ms: c.started_at_ms,
                    duration_s: started.elapsed().as_secs_f64(),
                    planned_duration_s: planned.as_secs_f64(),
                    outcome: outcome.into(),
                    exit_code,
                };
                // Thresholds are the coordinator's (over every agent's data).
                let mut summary = stampede_report::Summary::build(info, &total, Vec::new(), total.vus_max());
                recorder.finish(&mut summary, &[]).iter().for_each(&mut failed);
                recorder = Recorder::default();
            }
        }
    }
}
