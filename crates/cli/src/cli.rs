//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "stampede",
    version,
    about = "Distributed load testing: k6-style scenarios, exact percentiles, open-model latency without coordinated omission",
    after_help = "Exit codes: 0 passed, 99 thresholds failed, 104 invalid scenario or flags, 105 interrupted, \
                  110 degraded (an agent was lost), 1 other errors.\nDocs: README.md, docs/scenarios.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file on this machine and print a summary.
    Run(RunArgs),
    /// Check a scenario file without running it.
    Validate(ValidateArgs),
    /// Run a scenario over agents that connect to this coordinator.
    Coordinator(CoordinatorArgs),
    /// Generate load for a coordinator (dials out to it).
    Agent(AgentArgs),
    /// Re-render HTML and/or JUnit reports from a saved `--out summary=` file.
    Report(ReportFileArgs),
    /// Compare a run with a baseline run: faster, slower or no change, per
    /// series and where in the distribution (exit 111 on a regression).
    ///
    /// Both files are JSON summaries written by `--out summary=PATH`. Each
    /// series both runs recorded gets the shift function (deciles, p95, p99,
    /// p99.9, run minus baseline) with confidence intervals from the
    /// variation between blocks of time inside each run; a quantile is slower
    /// when its interval lies above zero and the change is beyond the noise
    /// margin. Without
    /// --budget, the comparison fails (111) when all requests together are
    /// slower. Method and assumptions: docs/compare.md.
    Compare(CompareArgs),
    /// Print a shell completion script: `stampede completion bash > /etc/bash_completion.d/stampede`,
    /// `stampede completion zsh > ~/.zfunc/_stampede`, `stampede completion fish > ~/.config/fish/completions/stampede.fish`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Run the bundled shop (origin + CDN edge) on loopback until Ctrl-C.
    ///
    /// Scenarios with `[target] shop` start it by themselves; this runs it on
    /// its own, e.g. to point another tool at it. Peak-day switches:
    /// --no-indexes, --cdn-misconfigured, --cache-inventory, --db-pool N; on
    /// the real stack (scenarios/stack/up.sh): --database postgres://…,
    /// --redis redis://…, --origins N.
    Shop(stampede_shop::cli::ShopArgs),
}

/// Switches for the bundled shop, when the scenario starts it.
#[derive(Debug, Args, Clone, Default)]
pub struct ShopFlagArgs {
    /// A switch for the bundled shop the scenario starts: no-indexes,
    /// cdn-misconfigured, cache-inventory, db-pool=N, origins=N,
    /// checkout-limit=N, or the real stack: database=postgres://…,
    /// pgbouncer-admin=postgres://…/pgbouncer, redis=redis://… (repeatable).
    #[arg(long = "shop-flag", value_name = "FLAG", value_parser = parse_shop_flag)]
    pub shop_flags: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct OverrideArgs {
    /// Base URL replacing the file's `[target] base_url`.
    #[arg(long, value_name = "URL", env = "STAMPEDE_TARGET")]
    pub target: Option<String>,
    /// Run every scenario as constant-vus with this many VUs.
    #[arg(long, value_name = "N", env = "STAMPEDE_VUS")]
    pub vus: Option<u64>,
    /// Run every scenario as constant-vus for this long (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, env = "STAMPEDE_DURATION")]
    pub duration: Option<Duration>,
    /// A value for `{{ env.KEY }}` in templates (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Connect to NAME at ADDR (an IP, with an optional port), k6's `hosts`;
    /// `*.example.com` maps every subdomain. TLS and `Host` keep NAME.
    /// Repeatable; adds to `[target] hosts`.
    #[arg(long = "hosts", value_name = "NAME=ADDR", value_parser = parse_host)]
    pub hosts: Vec<String>,
    /// Source addresses for new connections, round-robin: a comma-separated
    /// list of addresses, ranges (`A-B`) and CIDR blocks, as k6's
    /// `--local-ips`. Replaces `[target] local_ips`.
    #[arg(long = "local-ips", value_name = "LIST", value_parser = parse_local_ips, env = "STAMPEDE_LOCAL_IPS")]
    pub local_ips: Option<String>,
}

fn parse_host(s: &str) -> Result<String, String> {
    stampede_scenario::net::parse_host_flag(s).map(|_| s.to_owned())
}

fn parse_local_ips(s: &str) -> Result<String, String> {
    stampede_scenario::net::parse_local_ips_flag(s).map(|_| s.to_owned())
}

impl OverrideArgs {
    /// The plan overrides these flags make (the one conversion; agents get
    /// them through `stampede_proto::convert::overrides_to_wire`).
    pub fn to_overrides(&self) -> stampede_scenario::Overrides {
        stampede_scenario::Overrides {
            target: self.target.clone(),
            vus: self.vus,
            duration: self.duration,
            env: self.env.clone(),
            data_files: Vec::new(),
            hosts: self.hosts.clone(),
            local_ips: self.local_ips.clone(),
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct ValidateArgs {
    /// The scenario file (TOML), or a k6 script (.js).
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// What `run` and `coordinator` share: outputs and how the run is shown.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Write results, e.g. `summary=run.json`. Repeatable, or comma-separated
    /// (as k6's K6_OUT). Kinds: summary (Stampede's full JSON summary and
    /// per-interval series), json (k6's NDJSON Metric/Point stream, one point
    /// per interval and series), hlog (HdrHistogram interval log), csv (one
    /// row per interval and series), html (self-contained report with
    /// charts), junit (thresholds and checks as test cases). See
    /// docs/outputs.md.
    #[arg(
        long = "out",
        short = 'o',
        value_name = "KIND=PATH",
        value_parser = stampede_report::outputs::parse_spec,
        value_delimiter = ',',
        env = "STAMPEDE_OUT"
    )]
    pub out: Vec<(String, PathBuf)>,
    /// Write the end-of-test summary in the shape of k6's --summary-export
    /// (root_group and metrics; docs/outputs.md). Stampede's own, richer
    /// summary is `--out summary=PATH`.
    #[arg(long, value_name = "PATH", env = "STAMPEDE_SUMMARY_EXPORT")]
    pub summary_export: Option<PathBuf>,
    /// Seconds between live progress lines on stderr (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub progress_every: u64,
    /// Print no progress lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Serve live Prometheus metrics on this address (GET /metrics; see
    /// dashboards/README.md), e.g. 127.0.0.1:9650.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub remote_write: RemoteWriteArgs,
    /// No live terminal UI: plain progress lines on stderr (automatic when
    /// stdout is not a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Seed for random choices (think times, weights, random data), for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Compare this run with a baseline when it ends: a JSON summary of an
    /// earlier run of the same test (`--out summary=…`). Prints the comparison
    /// after the summary; a regression (a budget exceeded or, without
    /// budgets, all requests together slower) makes a passing run exit 111.
    /// See `stampede compare` and docs/compare.md.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// A regression budget for --baseline, `SELECTOR=ALLOWANCE`, e.g.
    /// `http_req_duration{name:checkout}=p(95)+10%` (repeatable; adds to the
    /// scenario's [compare]).
    #[arg(long = "budget", value_name = "SELECTOR=ALLOWANCE", requires = "baseline")]
    pub budgets: Vec<String>,
    /// --baseline: confidence of each series' verdict, percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 95.0, requires = "baseline")]
    pub confidence: f64,
    /// --baseline: changes smaller than this are noise, percent of the baseline.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0, requires = "baseline")]
    pub noise: f64,
}

const RW_HEADING: &str = "Prometheus remote write (--out prometheus-rw=URL)";

/// Settings of `--out prometheus-rw=URL` (docs/outputs.md). Secrets are best
/// given by environment variable, as with k6's `K6_PROMETHEUS_RW_*`.
#[derive(Debug, Args, Clone)]
pub struct RemoteWriteArgs {
    /// HTTP basic auth user.
    #[arg(long, help_heading = RW_HEADING, value_name = "USER", env = "STAMPEDE_PROMETHEUS_RW_USERNAME")]
    pub prometheus_rw_username: Option<String>,
    /// HTTP basic auth password.
    #[arg(long, help_heading = RW_HEADING, value_name = "PASSWORD", env = "STAMPEDE_PROMETHEUS_RW_PASSWORD", hide_env_values = true)]
    pub prometheus_rw_password: Option<String>,
    /// Bearer token (`Authorization: Bearer …`).
    #[arg(long, help_heading = RW_HEADING, value_name = "TOKEN", env = "STAMPEDE_PROMETHEUS_RW_BEARER_TOKEN", hide_env_values = true)]
    pub prometheus_rw_bearer_token: Option<String>,
    /// A header for every request, `NAME: VALUE` (repeatable), e.g.
    /// `X-Scope-OrgID: shop`.
    #[arg(long, help_heading = RW_HEADING, value_name = "NAME: VALUE")]
    pub prometheus_rw_header: Vec<String>,
    /// PEM certificates to trust besides the public roots (https).
    #[arg(long, help_heading = RW_HEADING, value_name = "FILE", env = "STAMPEDE_PROMETHEUS_RW_CA")]
    pub prometheus_rw_ca: Option<PathBuf>,
    /// Do not verify the receiver's TLS certificate.
    #[arg(long, help_heading = RW_HEADING, env = "STAMPEDE_PROMETHEUS_RW_INSECURE_SKIP_TLS_VERIFY")]
    pub prometheus_rw_insecure_skip_tls_verify: bool,
    /// The `testid` label of every series (default: the scenario's name and
    /// the start time, e.g. `shop-20261205-031500`).
    #[arg(long, help_heading = RW_HEADING, value_name = "ID", env = "STAMPEDE_PROMETHEUS_RW_TESTID")]
    pub prometheus_rw_testid: Option<String>,
    /// Native histogram schema, 0–8: each bucket is 2^(2^-N) wide, so a
    /// quantile is within 2.19 % (5), 1.09 % (6), 0.54 % (7), 0.27 % (8).
    #[arg(long, help_heading = RW_HEADING, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(i32).range(0..=8))]
    pub prometheus_rw_schema: i32,
    /// Intervals (batches) held while the receiver is away; then the
    /// oldest are dropped and counted (at most 64 MiB in any case).
    #[arg(long, help_heading = RW_HEADING, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub prometheus_rw_max_queue: u64,
    /// Seconds the end of the run waits for the receiver to take what is queued.
    #[arg(long, help_heading = RW_HEADING, value_name = "SECONDS", default_value_t = 10)]
    pub prometheus_rw_flush_timeout: u64,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub shop: ShopFlagArgs,
    /// Local agent processes to spread the load over (default: one per
    /// core). 0 runs the load inside this process instead.
    #[arg(long, value_name = "N")]
    pub agents: Option<u32>,
    /// Load worker threads in total (default: one per core; at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
}

#[derive(Debug, Args, Clone)]
pub struct ReportFileArgs {
    /// A JSON summary written by `--out summary=PATH`.
    pub json: PathBuf,
    /// Write a self-contained HTML report here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Write a JUnit XML file here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// The baseline: a JSON summary of the last good run.
    pub baseline: PathBuf,
    /// The run to judge: a JSON summary of the same test.
    pub run: PathBuf,
    /// A regression budget, `SELECTOR=ALLOWANCE`: how much slower a quantile
    /// may get, e.g. `http_req_duration{name:checkout}=p(95)+10%` or
    /// `http_req_duration=p(99)+50ms` (repeatable). With budgets, only they
    /// decide the exit code.
    #[arg(long = "budget", value_name = "SELECTOR=ALLOWANCE")]
    pub budgets: Vec<String>,
    /// Confidence of each series' verdict, percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 95.0)]
    pub confidence: f64,
    /// Changes smaller than this are noise, percent of the baseline.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub noise: f64,
    /// Compare runs of differently named scenario files.
    #[arg(long)]
    pub allow_different_scenarios: bool,
    /// Write the comparison as JSON here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write Markdown (for a pull-request comment) here.
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
    /// Write JUnit XML (one test case per budget) here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML page (both runs' distributions overlaid) here.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnAgentLoss {
    /// Go on with the other agents; the summary says who delivered what.
    Continue,
    /// Stop every agent.
    Abort,
}

#[derive(Debug, Args, Clone)]
pub struct CoordinatorArgs {
    /// The scenario file (TOML); its data files are sent to the agents.
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub shop: ShopFlagArgs,
    /// Address to accept agents on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7650")]
    pub listen: String,
    /// Agents to wait for before starting.
    #[arg(long, value_name = "N")]
    pub agents: usize,
    /// How long the start barrier may take: from the coordinator's start
    /// until every expected agent is connected and ready (e.g. 60s); agents
    /// may arrive apart and reconnect meanwhile.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub agent_timeout: Duration,
    /// File holding the shared token agents must present. Without it, only
    /// agents on loopback can be used safely.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate for TLS on the agent channel (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// What to do when an agent is lost mid-run.
    #[arg(long, value_enum, default_value_t = OnAgentLoss::Continue)]
    pub on_agent_loss: OnAgentLoss,
}

#[derive(Debug, Args, Clone)]
pub struct AgentArgs {
    /// The coordinator, e.g. http://10.0.0.5:7650 (https:// with --tls-ca).
    #[arg(long, value_name = "URL")]
    pub coordinator: String,
    /// File holding the coordinator's shared token.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// This agent's name (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Most VUs this agent accepts (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_vus: u64,
    /// Hosts this agent may load, besides loopback (repeatable; `*.example.com`
    /// matches subdomains; `*` allows any host).
    #[arg(long = "allow-target", value_name = "HOST", value_parser = parse_allow_target)]
    pub allow_target: Vec<String>,
    /// Load worker threads (default: one per core; at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Option<u32>,
    /// Exit after one run instead of waiting for the next.
    #[arg(long)]
    pub once: bool,
    /// PEM CA certificate that signed the coordinator's TLS certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Also keep this agent's own measurements, e.g. `hlog=agent.hlog`
    /// (repeatable; the kinds of `run --out`). Written per run.
    #[arg(long = "out", short = 'o', value_name = "KIND=PATH", value_parser = stampede_report::outputs::parse_spec)]
    pub out: Vec<(String, PathBuf)>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    stampede_scenario::parse_duration(s)
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

fn parse_allow_target(s: &str) -> Result<String, String> {
    // An empty pattern would silently allow nothing (or, worse, be read as "any").
    if s.trim().is_empty() {
        return Err("an empty host; name a host (api.example.com), a domain (*.example.com) or * for any".into());
    }
    if s.trim() != s || s.contains(['/', ' ']) {
        return Err(format!(
            "`{s}` is not a host name: write the host only, e.g. api.example.com (no scheme, path or spaces)"
        ));
    }
    Ok(s.to_string())
}

fn parse_shop_flag(s: &str) -> Result<String, String> {
    if stampede_scenario::SHOP_FLAGS.contains(&s) {
        return Ok(s.to_string());
    }
    if let Some((k, v)) = s.split_once('=') {
        let ok = match k {
            "db-pool" | "origins" => v.parse::<u16>().is_ok_and(|n| n > 0),
            "checkout-limit" => v.parse::<u32>().is_ok_and(|n| n > 0),
            "database" | "pgbouncer-admin" => v.starts_with("postgres://") || v.starts_with("postgresql://"),
            "redis" => v.starts_with("redis://"),
            _ => false,
        };
        if ok {
            return Ok(s.to_string());
        }
    }
    Err(format!(
        "unknown shop switch `{s}`; one of: {}, db-pool=N, origins=N, checkout-limit=N, database=postgres://…, \
         pgbouncer-admin=postgres://…/pgbouncer, redis=redis://…",
        stampede_scenario::SHOP_FLAGS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_shop_flag;

    #[test]
    fn shop_flags_take_the_stack_and_refuse_what_the_shop_would() {
        for ok in [
            "no-indexes",
            "db-pool=100",
            "origins=4",
            "checkout-limit=100000",
            "database=postgres://shop@127.0.0.1:5432/shop",
            "pgbouncer-admin=postgres://shop@127.0.0.1:6432/pgbouncer",
            "redis=redis://127.0.0.1:6379/",
        ] {
            assert_eq!(parse_shop_flag(ok).as_deref(), Ok(ok));
        }
        for bad in ["db-pool=0", "origins=lots", "database=mysql://x", "redis=127.0.0.1:6379", "threads=4"] {
            let e = parse_shop_flag(bad).unwrap_err();
            assert!(e.contains("database=postgres://"), "{bad}: {e}");
        }
    }
}
