//! `stampede agent`: flags to an [`AgentConfig`], then the agent library.

use stampede_agent::allow::AllowList;
use stampede_agent::{AgentConfig, AgentError};

use crate::cli::AgentArgs;
use crate::exit;

pub async fn run(args: AgentArgs) -> anyhow::Result<i32> {
    let token = match &args.token_file {
        Some(f) => Some(crate::run::read_token(f)?),
        None => None,
    };
    let tls_ca = match &args.tls_ca {
        Some(f) => Some(crate::run::pem_certificates("--tls-ca", f)?.0),
        None => None,
    };
    // Checked now, so a bad path is a flag error and not a message at the first
    // run (the files themselves are created per run).
    crate::run::check_distinct_outputs(&args.out, "--out")?;
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
    // Never accept more VUs than descriptors allow. The plan is not known
    // yet, so this counts one connection per VU; a plan whose flows reach
    // several origins needs `Plan::connections_per_vu` descriptors per VU,
    // which the agent library must check when it receives the plan.
    let fd_cap = limit.saturating_sub(crate::run::FD_RESERVE);
    let max_vus = if args.max_vus == 0 { fd_cap } else { args.max_vus.min(fd_cap) };
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
        max_vus,
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

/// Writes this agent's own intervals to its `--out` files, one set per run.
async fn record_locally(
    specs: Vec<(String, std::path::PathBuf)>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Option<stampede_engine::IntervalSnapshot>>,
) {
    use stampede_report::outputs::RunContext;
    let mut recorder = stampede_controller::Recorder::default();
    // Whether this run's outputs were opened (an open that failed is not retried every interval).
    let mut opened = false;
    let mut total = stampede_metrics::Snapshot::default();
    let mut started = std::time::Instant::now();
    let ctx = || RunContext {
        scenario_file: "agent".into(),
        started_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64,
        interval: std::time::Duration::from_secs(1),
    };
    while let Some(msg) = rx.recv().await {
        match msg {
            Some(iv) => {
                if !opened {
                    opened = true;
                    started = std::time::Instant::now();
                    let c = ctx();
                    match crate::run::open_named_outputs(&specs, &c, "--out") {
                        Ok(o) => recorder = stampede_controller::Recorder::new(o),
                        Err(e) => eprintln!("agent: {e}"),
                    }
                }
                let end = iv.start + std::time::Duration::from_secs(1);
                for e in recorder.interval(iv.start, end, &iv.snapshot) {
                    eprintln!("agent: {e}");
                }
                total.accumulate(&iv.snapshot);
            }
            None => {
                let info = stampede_report::RunInfo {
                    scenario_file: "agent".into(),
                    started_at_ms: 0,
                    duration_s: started.elapsed().as_secs_f64(),
                    planned_duration_s: 0.0,
                    outcome: "completed".into(),
                    exit_code: 0,
                };
                let summary = stampede_report::Summary::build(info, &total, Vec::new(), total.vus_max());
                for e in recorder.finish(&summary, &[]) {
                    eprintln!("agent: {e}");
                }
                recorder = stampede_controller::Recorder::default();
                opened = false;
                total = stampede_metrics::Snapshot::default();
            }
        }
    }
}
