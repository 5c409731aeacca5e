//! stampede-agent: a load generator that dials its coordinator.
//!
//! Owns the agent side of the protocol: hello, compiling the assigned plan
//! (from the TOML and data files it receives: no shared disk), refusing plans
//! aimed outside `--allow-target`, running its execution segment on the
//! engine, streaming one snapshot per interval, heartbeats, and stopping its
//! load within seconds when the coordinator is gone. It owns no measurement
//! logic (the engine and metrics crates do) and no merging (the coordinator).
//!
//! # Layout
//! - [`AgentConfig`] and [`run`]: the reconnecting outer loop (an agent
//!   dropped before the start reconnects, even with `--once`).
//! - `session`: one attachment to a coordinator, start to done.
//! - [`allow`]: the target allow-list.

pub mod allow;
mod session;

use std::time::Duration;

pub use session::{K6_SETUP_KEY, SessionEnd};

/// How an agent connects and what it accepts.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    pub coordinator: String,
    pub token: Option<String>,
    pub name: String,
    /// Most VUs accepted (0: no limit).
    pub max_vus: u64,
    /// Most connections its VUs may hold at once: the open-files limit less a
    /// reserve (0: no limit). A plan share that needs more is refused.
    pub max_connections: u64,
    /// Hosts the agent may send load to; see [`allow::AllowList`].
    pub allow: allow::AllowList,
    /// Load workers (threads); the agent's capacity.
    pub workers: u32,
    /// Exit after one run instead of waiting for the next.
    pub once: bool,
    /// PEM CA certificate to verify an `https://` coordinator.
    pub tls_ca: Option<Vec<u8>>,
    pub labels: Vec<(String, String)>,
    /// Print only errors.
    pub quiet: bool,
    /// Receives this agent's own run: its start, its measurements interval
    /// by interval, and how it ended (the CLI writes them to `--out` files).
    pub local_record: Option<tokio::sync::mpsc::UnboundedSender<LocalRecord>>,
}

/// One run of this agent, as its own `--out` files record it.
#[derive(Debug, Clone)]
pub enum LocalRecord {
    /// The load starts: the assigned scenario, its interval, and when (Unix
    /// time in milliseconds, this agent's clock).
    Started {
        scenario: String,
        interval: Duration,
        started_at_ms: u64,
        planned: Duration,
    },
    Interval(stampede_engine::IntervalSnapshot),
    /// The run is over: `completed`, `interrupted`, `aborted_by_threshold`
    /// (as the coordinator said when it stopped the run), or `aborted` (the
    /// coordinator was lost).
    Finished {
        outcome: &'static str,
    },
}

/// Errors that end the agent (others are retried).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error("invalid coordinator address `{0}`: {1}")]
    BadAddress(String, String),
    #[error("the coordinator refused this agent: {0}")]
    Refused(String),
    #[error("the coordinator went away during the run: {0}")]
    CoordinatorLost(String),
}

/// Connects, runs assigned plans, and reconnects with backoff, until
/// `shutdown` resolves (or after one run with `once`).
pub async fn run(cfg: AgentConfig, shutdown: impl std::future::Future<Output = ()>) -> Result<(), AgentError> {
    tokio::pin!(shutdown);
    let endpoint = session::endpoint(&cfg)?;
    let mut backoff = Duration::from_millis(200);
    let mut announced = false;
    loop {
        let attempt = session::attach(&cfg, endpoint.clone());
        let end = tokio::select! {
            r = attempt => r,
            _ = &mut shutdown => return Ok(()),
        };
        match end {
            Ok(SessionEnd::Finished) => {
                backoff = Duration::from_millis(200);
                announced = false;
                if cfg.once {
                    return Ok(());
                }
            }
            Ok(SessionEnd::Unreachable(why)) => {
                if !announced && !cfg.quiet {
                    eprintln!(
                        "agent {}: waiting for the coordinator at {} ({why}); retrying",
                        cfg.name, cfg.coordinator
                    );
                    announced = true;
                }
            }
            Ok(SessionEnd::Dropped(why)) => {
                // Nothing ran: back in line at once (and with `--once` too,
                // since its one run has not happened).
                if !cfg.quiet {
                    eprintln!("agent {}: {why}; reconnecting", cfg.name);
                }
                backoff = Duration::from_millis(200);
                announced = false;
            }
            Err(AgentError::CoordinatorLost(why)) if !cfg.once => {
                eprintln!("agent {}: lost the coordinator ({why}); load stopped, reconnecting", cfg.name);
            }
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = &mut shutdown => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
