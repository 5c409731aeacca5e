//! `stampede agent`: flags to an [`AgentConfig`], then the agent library.

use anyhow::Context as _;
use stampede_agent::allow::AllowList;
use stampede_agent::{AgentConfig, AgentError};

use crate::cli::AgentArgs;
use crate::exit;

pub async fn run(args: AgentArgs) -> anyhow::Result<i32> {
    let token = match &args.token_file {
        Some(f) => {
            let t = std::fs::read_to_string(f).with_context(|| format!("reading token file {}", f.display()))?;
            Some(t.trim().to_string())
        }
        None => None,
    };
    let tls_ca = match &args.tls_ca {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("reading --tls-ca {}", f.display()))?),
        None => None,
    };
    let limit = crate::run::raise_nofile_limit();
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "agent".into());
        format!("{}-{}", host.trim(), std::process::id())
    });
    // Never accept more VUs than descriptors allow (one connection each).
    let fd_cap = limit.saturating_sub(crate::run::FD_RESERVE);
    let max_vus = if args.max_vus == 0 { fd_cap } else { args.max_vus.min(fd_cap) };
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
