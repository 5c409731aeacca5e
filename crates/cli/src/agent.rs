//! `stampede agent`: flags to an [`AgentConfig`], then the agent library.

use stampede_agent::allow::AllowList;
use std::time::Duration;

use stampede_agent::{AgentConfig, AgentError};

use crate::cli::AgentArgs;
use crate::exit;

pub async fn run(args: AgentArgs) -> anyhow::Result<i32> {
    let token = match &args.token_file {
        Some(f) => Some(crate::flags::read_token(f)?),
        None => None,
    };
    let tls_ca = match &args.tls_ca {
        Some(f) => Some(crate::flags::pem_certificates("--tls-ca", f)?.0),
        None => None,
    };
    // Checked now, so a bad path is a flag error and not a message at the first
    // run (the files themselves are created per run).
    crate::flags::check_distinct_outputs(&args.out, "--out")?;
    for (kind, path) in &args.out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
            return Err(crate::invalid(format!(
                "--out {kind}={}: the directory {} does not exist (create it first)",
                path.display(),
                dir.display()
            )));
        }
    }
    let limit = crate::run::raise_nofile_limit();
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "agent".into());
        format!("{}-{}", host.trim(), std::process::id())
    });
    // Never accept a share of a plan whose connections (one per VU and
    // origin) need more descriptors than the limit allows: the agent checks
    // each plan it is assigned against this.
    let max_connections = limit.saturating_sub(crate::run::FD_RESERVE).max(1);
    let local_record = if args.out.is_empty() {
        None
    } else {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(record_locally(args.out.clone(), rx));
        Some(tx)
    };
    let cfg = AgentConfig {
        coordinator: args.coordinator.clone(),
        token,
        name,
        max_vus: args.max_vus,
        max_connections,
        allow: AllowList::new(&args.allow_target),
        workers: workers.max(1),
        once: args.once,
        tls_ca,
        labels: Vec::new(),
        quiet: args.quiet,
        local_record,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match stampede_agent::run(cfg, shutdown).await {
        Ok(()) => Ok(exit::OK),
        Err(e @ AgentError::BadAddress(..)) => {
            eprintln!("error: {e}");
            Ok(exit::INVALID_INPUT)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::ERROR)
        }
    }
}

/// Writes this agent's own runs to its `--out` files (each run overwrites
/// them): opened when a run starts, fed every interval, and finished with
/// the run's true outcome, start time and interval, through the same
/// recorder as a coordinator's outputs.
async fn record_locally(
    specs: Vec<(String, std::path::PathBuf)>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<stampede_agent::LocalRecord>,
) {
    use stampede_agent::LocalRecord;
    use stampede_controller::{Outcome, Recorder};
    use stampede_report::outputs::RunContext;
    let mut recorder = Recorder::default();
    let mut total = stampede_metrics::Snapshot::default();
    let (mut ctx, mut started, mut planned) = (None::<RunContext>, std::time::Instant::now(), Duration::ZERO);
    while let Some(msg) = rx.recv().await {
        match msg {
            LocalRecord::Started { scenario, interval, started_at_ms, planned: p } => {
                let c = RunContext { scenario_file: scenario, started_at_ms, interval };
                recorder = match crate::flags::open_named_outputs(&specs, &c, "--out") {
                    Ok(o) => Recorder::new(o),
                    Err(e) => {
                        eprintln!("agent: {e}");
                        Recorder::default()
                    }
                };
                (ctx, started, planned) = (Some(c), std::time::Instant::now(), p);
                total = stampede_metrics::Snapshot::default();
            }
            LocalRecord::Interval(iv) => {
                let interval = ctx.as_ref().map_or(Duration::from_secs(1), |c| c.interval);
                for e in recorder.interval(iv.start, iv.start + interval, &iv.snapshot) {
                    eprintln!("agent: {e}");
                }
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
                let summary = stampede_report::Summary::build(info, &total, Vec::new(), total.vus_max());
                for e in recorder.finish(&summary, &[]) {
                    eprintln!("agent: {e}");
                }
                recorder = Recorder::default();
            }
        }
    }
}
