//! Command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "stampede",
    version,
    about = "Distributed load testing: k6-style scenarios, exact percentiles, open-model latency without coordinated omission",
    after_help = "Exit codes: 0 passed, 99 thresholds failed, 104 invalid scenario or flags, 105 interrupted, 1 other errors.\nDocs: docs/scenarios.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file and print a summary.
    Run(RunArgs),
    /// Check a scenario file without running it.
    Validate(ValidateArgs),
}

#[derive(Debug, Args, Clone)]
pub struct OverrideArgs {
    /// Base URL replacing the file's `[target] base_url`.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Run every scenario as constant-vus with this many VUs.
    #[arg(long, value_name = "N")]
    pub vus: Option<u64>,
    /// Run every scenario as constant-vus for this long (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// A value for `{{ env.KEY }}` in templates (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
}

#[derive(Debug, Args, Clone)]
pub struct ValidateArgs {
    /// The scenario file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The scenario file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Write results, e.g. `json=summary.json`. Repeatable. Kinds: json (the
    /// full summary and per-interval series).
    #[arg(long = "out", short = 'o', value_name = "KIND=PATH", value_parser = stampede_report::outputs::parse_spec)]
    pub out: Vec<(String, PathBuf)>,
    /// Load-generating worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// Seconds between live progress lines on stderr.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub progress_every: u64,
    /// Print no progress lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Seed for random choices (think times, weights, random data), for reproducible runs.
    #[arg(long)]
    pub seed: Option<u64>,
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
