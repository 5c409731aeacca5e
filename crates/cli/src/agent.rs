//! `stampede agent`: flags to an [`AgentConfig`], then the agent library.

use stampede_agent::allow::AllowList;
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
        if kind == stampede_report::outputs::REMOTE_WRITE {
            return Err(crate::invalid(format!(
                "--out {kind}={}: an agent does not send remote write; give it to the coordinator (or `stampede run`), which sends the whole run once, merged exactly",
                path.display()
            )));
        }
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
        let specs = args.out.clone();
        let open = move |c: &stampede_report::outputs::RunContext| match crate::flags::open_named_outputs(
            &specs, c, "--out",
        ) {
            Ok(o) => stampede_controller::Recorder::new(o),
            Err(e) => {
                eprintln!("agent: {e}");
                stampede_controller::Recorder::default()
            }
        };
        tokio::spawn(stampede_controller::record_agent_runs(rx, open, |e| eprintln!("agent: {e}")));
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
