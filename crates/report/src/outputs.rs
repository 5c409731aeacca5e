//! `--out KIND=PATH` outputs. Each output is an [`Output`] that sees every
//! interval as it is merged (so streaming formats can append and flush) and
//! the summary at the end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stampede_metrics::Snapshot;
use stampede_metrics::live::Point;

use crate::summary::Summary;

/// What an output knows about the run before it starts.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub scenario_file: String,
    /// Unix time of the start in milliseconds.
    pub started_at_ms: u64,
    /// Interval length.
    pub interval: Duration,
}

/// One `--out` destination.
pub trait Output: Send {
    /// Called once per merged interval, in order. `start`/`end` are from the
    /// run start.
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()>;
    /// Called once at the end, with the summary of everything measured.
    fn finish(&mut self, summary: &Summary) -> std::io::Result<()>;
}

/// Output kinds and the help line `--out` shows.
pub const KINDS: &[(&str, &str)] = &[("json", "the full summary plus per-interval time series")];

/// Parses `KIND=PATH`.
pub fn parse_spec(spec: &str) -> Result<(String, PathBuf), String> {
    let (kind, path) =
        spec.split_once('=').ok_or_else(|| format!("expected KIND=PATH (e.g. json=summary.json), got `{spec}`"))?;
    if path.is_empty() {
        return Err(format!("`{kind}=` needs a path"));
    }
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
        return Err(format!("unknown output kind `{kind}`; available: {}", known.join(", ")));
    }
    Ok((kind.to_string(), path.into()))
}

/// Opens an output; fails early (before any load) when the path cannot be written.
pub fn open(kind: &str, path: &Path, ctx: &RunContext) -> std::io::Result<Box<dyn Output>> {
    match kind {
        "json" => Ok(Box::new(JsonOutput::create(path, ctx)?)),
        other => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("unknown output kind `{other}`"))),
    }
}

/// `json=PATH`: the summary plus the per-interval time series, written at the end.
pub struct JsonOutput {
    path: PathBuf,
    points: Vec<Point>,
}

impl JsonOutput {
    pub fn create(path: &Path, _ctx: &RunContext) -> std::io::Result<JsonOutput> {
        std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonOutput { path: path.to_path_buf(), points: Vec::new() })
    }
}

impl Output for JsonOutput {
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        self.points.push(Point::of(end, snapshot, (end - start).as_secs_f64()));
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> std::io::Result<()> {
        let mut v = serde_json::to_value(summary).map_err(std::io::Error::other)?;
        let series: Vec<serde_json::Value> = self
            .points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "t": p.t.as_secs_f64(),
                    "rps": p.rps,
                    "error_rate": p.error_rate,
                    "p50_ms": p.p50_ms,
                    "p95_ms": p.p95_ms,
                    "p99_ms": p.p99_ms,
                    "vus": p.vus,
                    "cdn_hit_ratio": p.cdn_hit_ratio,
                    "data_in_per_s": p.data_in_per_s,
                    "data_out_per_s": p.data_out_per_s,
                    "iterations_per_s": p.iterations_per_s,
                })
            })
            .collect();
        v["intervals"] = serde_json::Value::Array(series);
        let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::other)?;
        std::fs::write(&self.path, text)
    }
}
