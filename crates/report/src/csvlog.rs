//! `csv=PATH`: one row per interval and series, for spreadsheets. Appended
//! and flushed every interval; nothing of past intervals is kept.
//!
//! Columns ([`HEADER`]): `time_s` (end of the interval, seconds from the run
//! start), `timestamp` (the same, RFC 3339 UTC), `metric`, `scenario`,
//! `name`, `count`, `rate` (per second), `mean_ms`, `p50_ms`, `p90_ms`,
//! `p95_ms`, `p99_ms`, `max_ms`, `errors`, `error_rate`, `cdn_hit_ratio`.
//!
//! Rows per interval:
//! - `http_req_duration`, name empty: all requests (count, rate, latency, errors);
//! - `http_req_duration`, per request name (every scenario, method and status merged);
//! - `iteration_duration` per scenario (`count` = iterations; `errors` =
//!   dropped iterations), and `intended_latency` per open-model scenario;
//! - `vus` per scenario: `count` holds the VUs at the end of the interval.
//!
//! Cells that do not apply are empty; latencies of an interval without
//! samples are empty too (not 0, which a chart would plot).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use stampede_metrics::Snapshot;
use stampede_metrics::hist::Histogram;
use stampede_metrics::shard::RequestStats;

use crate::outputs::{Output, RunContext};
use crate::summary::Summary;
use crate::text::iso8601_utc;

pub const HEADER: [&str; 16] = [
    "time_s",
    "timestamp",
    "metric",
    "scenario",
    "name",
    "count",
    "rate",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "errors",
    "error_rate",
    "cdn_hit_ratio",
];

/// The writer behind `csv=PATH`.
pub struct CsvOutput {
    out: csv::Writer<File>,
    started_at_ms: u64,
}

impl CsvOutput {
    pub fn create(path: &Path, ctx: &RunContext) -> std::io::Result<CsvOutput> {
        let mut out = csv::Writer::from_writer(File::create(path)?);
        out.write_record(HEADER)?;
        out.flush()?;
        Ok(CsvOutput { out, started_at_ms: ctx.started_at_ms })
    }
}

fn ms(v: f64) -> String {
    format!("{:.3}", v / 1000.0)
}

/// mean, p50, p90, p95, p99, max in ms; empty cells without samples.
fn latency_cells(h: &Histogram) -> [String; 6] {
    if h.is_empty() {
        return Default::default();
    }
    let q = |p: f64| ms(h.value_at_quantile(p) as f64);
    [ms(h.mean()), q(0.5), q(0.9), q(0.95), q(0.99), ms(h.max() as f64)]
}

fn ratio(num: u64, den: u64) -> String {
    if den == 0 { String::new() } else { format!("{:.6}", num as f64 / den as f64) }
}

impl CsvOutput {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        lead: &[String; 2],
        metric: &str,
        scenario: &str,
        name: &str,
        count: u64,
        secs: f64,
        h: Option<&Histogram>,
        tail: [String; 3],
    ) -> csv::Result<()> {
        let lat = h.map(latency_cells).unwrap_or_default();
        // A gauge has no rate.
        let rate = if metric == "vus" { String::new() } else { format!("{:.3}", count as f64 / secs) };
        let mut rec: Vec<&str> = Vec::with_capacity(HEADER.len());
        rec.extend([lead[0].as_str(), lead[1].as_str(), metric, scenario, name]);
        let count = count.to_string();
        rec.push(&count);
        rec.push(&rate);
        rec.extend(lat.iter().map(String::as_str));
        rec.extend(tail.iter().map(String::as_str));
        self.out.write_record(&rec)
    }

    fn request_row(&mut self, lead: &[String; 2], name: &str, r: &RequestStats, secs: f64) -> csv::Result<()> {
        let tail =
            [r.failed().to_string(), ratio(r.failed(), r.count()), ratio(r.cdn_hits(), r.cdn_hits() + r.cdn_misses())];
        self.row(lead, "http_req_duration", "", name, r.count(), secs, Some(r.duration()), tail)
    }
}

impl Output for CsvOutput {
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        let secs = end.saturating_sub(start).as_secs_f64().max(1e-3);
        let lead = [format!("{:.3}", end.as_secs_f64()), iso8601_utc(self.started_at_ms + end.as_millis() as u64)];
        self.request_row(&lead, "", &snapshot.all_requests(), secs)?;
        for name in snapshot.request_names() {
            self.request_row(&lead, &name, &snapshot.by_name(&name), secs)?;
        }
        for (scenario, s) in &snapshot.scenarios {
            let none = || [String::new(), String::new(), String::new()];
            let dropped = [s.dropped_iterations.to_string(), String::new(), String::new()];
            self.row(
                &lead,
                "iteration_duration",
                scenario,
                "",
                s.iterations,
                secs,
                Some(&s.iteration_duration),
                dropped,
            )?;
            if !s.intended_latency.is_empty() {
                let n = s.intended_latency.len();
                self.row(&lead, "intended_latency", scenario, "", n, secs, Some(&s.intended_latency), none())?;
            }
            self.row(&lead, "vus", scenario, "", s.vus, secs, None, none())?;
        }
        self.out.flush()
    }

    fn finish(&mut self, _summary: &Summary) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}
