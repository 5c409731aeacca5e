//! `hlog=PATH`: an HdrHistogram interval log (format version 1.3), the file
//! HdrHistogram's own tools read (Java `HistogramLogReader`/`HistogramLogProcessor`,
//! Python `hdrh.log.HistogramLogReader`, HdrHistogramVisualizer).
//!
//! ```text
//! #[Histogram log format version 1.3]
//! #[StartTime: 1764320400.000 (seconds since epoch), 2025-11-28T09:00:00.000Z]
//! #[BaseTime: 1764320400.000 (seconds since epoch)]
//! #[Stampede: values in microseconds; Interval_Max in milliseconds (max value unit ratio 1000)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! Tag=http_req_duration,0.000,1.000,12.543,HISTFAAAAC…
//! Tag=http_req_duration.checkout,0.000,1.000,12.543,HISTFAAAAB…
//! ```
//!
//! - Timestamps are seconds relative to `BaseTime` (= the run start).
//! - Histogram values are **microseconds** (our histograms' unit);
//!   `Interval_Max` is written in **milliseconds** with 3 decimals, i.e. with
//!   a max value unit ratio of 1000 (the Java writer's default ratio, 10⁶, maps
//!   nanoseconds to milliseconds the same way). Readers decode the histogram
//!   and ignore that column; scripts comparing with the JSON summary (in ms)
//!   divide decoded values by 1000.
//! - Series (tags): `http_req_duration` (all requests),
//!   `http_req_duration.NAME` per request name (every scenario, method and
//!   status merged), `iteration_duration`, and `intended_latency` once an
//!   open-model scenario recorded one. A series, once seen, gets a line every
//!   interval (empty histograms included), so every tag covers the same time line.
//! - Tags may not hold spaces, commas or `=`: the request name is
//!   percent-encoded (see [`tag_for`]), reversibly, so `check_hlog.py`
//!   can map tags back to names.
//!
//! Each interval is appended and flushed; a killed run leaves a valid log up
//! to its last interval. Memory is one scratch histogram per series, reused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use stampede_metrics::Snapshot;
use stampede_metrics::hist::{Histogram, merge, new_histogram};

use crate::outputs::{Output, RunContext};
use crate::summary::Summary;
use crate::text::iso8601_utc;

/// The metric prefix of request series.
pub const REQUEST_METRIC: &str = "http_req_duration";

/// The tag of a series: the metric, then `.` and the percent-encoded request
/// name for per-name series. Bytes other than ASCII letters, digits and
/// `_ - . : / ~ ( ) [ ]` become `%XX` (UTF-8 bytes, upper-case hex), so a tag
/// never holds a space, comma, `=` or `%` of its own, and decoding the part
/// after the first `.` gives the name back.
pub fn tag_for(metric: &str, name: Option<&str>) -> String {
    let Some(name) = name else { return metric.to_string() };
    let mut out = String::with_capacity(metric.len() + 1 + name.len());
    out.push_str(metric);
    out.push('.');
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_-.:/~()[]".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One log line for a histogram of µs values: `Tag=…,start,length,max_ms,payload`.
pub fn interval_line(tag: &str, start: Duration, length: Duration, h: &Histogram) -> String {
    let payload = base64::engine::general_purpose::STANDARD.encode(stampede_metrics::hist::encode(h));
    let max_ms = if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 };
    format!("Tag={tag},{:.3},{:.3},{max_ms:.3},{payload}\n", start.as_secs_f64(), length.as_secs_f64())
}

/// The writer behind `hlog=PATH`.
pub struct HlogOutput {
    out: BufWriter<File>,
    /// Per-name scratch histograms, reset and refilled every interval; a name
    /// stays once seen so its tag keeps a line every interval.
    names: BTreeMap<Arc<str>, Histogram>,
    all: Histogram,
    iterations: Histogram,
    intended: Histogram,
    /// An open-model scenario recorded intended latency at least once.
    intended_seen: bool,
}

impl HlogOutput {
    pub fn create(path: &Path, ctx: &RunContext) -> std::io::Result<HlogOutput> {
        let mut out = BufWriter::new(File::create(path)?);
        let start = ctx.started_at_ms as f64 / 1000.0;
        write!(
            out,
            "#[Histogram log format version 1.3]\n\
             #[StartTime: {start:.3} (seconds since epoch), {}]\n\
             #[BaseTime: {start:.3} (seconds since epoch)]\n\
             #[Stampede: scenario {}; values in microseconds; Interval_Max in milliseconds (max value unit ratio 1000)]\n\
             \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
            iso8601_utc(ctx.started_at_ms),
            ctx.scenario_file.replace(['\n', '\r', ']'], " "),
        )?;
        out.flush()?;
        Ok(HlogOutput {
            out,
            names: BTreeMap::new(),
            all: new_histogram(),
            iterations: new_histogram(),
            intended: new_histogram(),
            intended_seen: false,
        })
    }
}

impl Output for HlogOutput {
    fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        let length = end.saturating_sub(start);
        self.all.reset();
        self.iterations.reset();
        self.intended.reset();
        for h in self.names.values_mut() {
            h.reset();
        }
        for (k, r) in &snapshot.requests {
            merge(&mut self.all, r.duration());
            match self.names.get_mut(&k.name) {
                Some(h) => merge(h, r.duration()),
                None => {
                    let mut h = new_histogram();
                    merge(&mut h, r.duration());
                    self.names.insert(k.name.clone(), h);
                }
            }
        }
        for s in snapshot.scenarios.values() {
            merge(&mut self.iterations, &s.iteration_duration);
            merge(&mut self.intended, &s.intended_latency);
        }
        self.intended_seen |= !self.intended.is_empty();

        self.out.write_all(interval_line(REQUEST_METRIC, start, length, &self.all).as_bytes())?;
        for (name, h) in &self.names {
            self.out.write_all(interval_line(&tag_for(REQUEST_METRIC, Some(name)), start, length, h).as_bytes())?;
        }
        self.out.write_all(interval_line("iteration_duration", start, length, &self.iterations).as_bytes())?;
        if self.intended_seen {
            self.out.write_all(interval_line("intended_latency", start, length, &self.intended).as_bytes())?;
        }
        self.out.flush()
    }

    fn finish(&mut self, _summary: &Summary) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_hold_no_separator_and_decode_back() {
        assert_eq!(tag_for("http_req_duration", Some("checkout")), "http_req_duration.checkout");
        assert_eq!(tag_for("http_req_duration", None), "http_req_duration");
        let t = tag_for("http_req_duration", Some("add to cart, 50%=x é"));
        assert_eq!(t, "http_req_duration.add%20to%20cart%2C%2050%25%3Dx%20%C3%A9");
        assert!(!t.contains([' ', ',', '=']));
    }

    #[test]
    fn max_is_in_milliseconds() {
        let mut h = new_histogram();
        stampede_metrics::hist::record(&mut h, 12_345);
        let line = interval_line("x", Duration::from_millis(2000), Duration::from_millis(1000), &h);
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        assert_eq!(&fields[..4], &["Tag=x", "2.000", "1.000", "12.351"]);
        assert!(fields[4].starts_with("HISTF"), "{}", fields[4]);
    }
}
