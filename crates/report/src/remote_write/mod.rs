//! `--out prometheus-rw=URL`: the run pushed to a Prometheus remote-write
//! receiver (protocol 1.0: snappy-compressed protobuf) as it goes, every
//! trend as a native histogram (exact bucket counts, mergeable across
//! series and runs), counters and gauges for the rest.
//!
//! One write request per interval carries every series at the interval's
//! end ([`series`]). [`RemoteWriteOutput::interval`] only encodes and
//! queues it: a sender thread of its own ([`send`]) posts the queue in
//! order, retrying with backoff while the receiver fails or is away. The
//! queue is bounded (batches and bytes); when full, the oldest batch is
//! dropped and counted, so the load never waits and memory never grows.
//! Counters are totals since the start, so a dropped batch loses points of
//! the time line, never counts: the next batch delivered has them all. At
//! the end the output waits up to [`RemoteWriteConfig::flush_timeout`] for
//! the queue, then reports what was sent and dropped ([`Delivery`], in the
//! summary).

pub mod send;
pub mod series;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use stampede_metrics::Snapshot;

use crate::outputs::{Output, RunContext};
use crate::summary::{Delivery, Summary};

pub use series::{FAMILIES, relative_error};

/// The default schema: buckets 2.19 % wide (32 per power of two).
pub const DEFAULT_SCHEMA: i32 = 5;
/// Batches held while the receiver is away (one per interval: 5 minutes).
pub const DEFAULT_MAX_QUEUE: usize = 300;
/// Bytes held while the receiver is away, whatever the batch count.
pub const MAX_QUEUE_BYTES: usize = 64 << 20;

/// Where and how to send.
#[derive(Clone)]
pub struct RemoteWriteConfig {
    pub url: http::Uri,
    /// Sent with every request (custom headers, then `Authorization`).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// For `https` URLs.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The `testid` label of every series.
    pub testid: String,
    /// Native histogram schema, 0–8: buckets are `2^(2^-schema)` wide.
    pub schema: i32,
    /// Batches held while the receiver is away.
    pub max_queue: usize,
    /// How long the end of the run waits for the queue to drain.
    pub flush_timeout: Duration,
}

impl std::fmt::Debug for RemoteWriteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may hold credentials.
        f.debug_struct("RemoteWriteConfig").field("url", &self.url).field("testid", &self.testid).finish()
    }
}

/// Checks a remote-write URL: `http` or `https`, a host, no credentials in it.
pub fn parse_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!("`{s}`: give an http:// or https:// URL, e.g. http://127.0.0.1:9090/api/v1/write"));
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("`{s}` has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "`{s}`: credentials do not go in the URL (they would be printed); use --prometheus-rw-username/--prometheus-rw-password or --prometheus-rw-bearer-token"
        ));
    }
    Ok(uri)
}

/// A default `testid`: the scenario's file stem and the start time (UTC),
/// e.g. `shop-20261205-031500`.
pub fn default_testid(ctx: &RunContext) -> String {
    let stem = std::path::Path::new(&ctx.scenario_file)
        .file_stem()
        .map_or_else(|| "run".to_string(), |s| s.to_string_lossy().into_owned());
    let t = crate::text::iso8601_utc(ctx.started_at_ms);
    // 2026-12-05T03:15:00.000Z → 20261205-031500
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let stamp = if digits.len() >= 14 { format!("{}-{}", &digits[..8], &digits[8..14]) } else { digits };
    format!("{stem}-{stamp}")
}

/// The output behind `prometheus-rw=URL`.
pub struct RemoteWriteOutput {
    series: series::Series,
    sender: send::Sender,
    started_at_ms: u64,
    url: String,
    testid: String,
    schema: i32,
}

impl RemoteWriteOutput {
    /// Starts the sender thread; nothing is sent before the first interval.
    pub fn start(config: RemoteWriteConfig, ctx: &RunContext) -> std::io::Result<RemoteWriteOutput> {
        let url = config.url.to_string();
        let series = series::Series::new(config.schema, vec![("testid".into(), config.testid.clone())]);
        let (testid, schema) = (config.testid.clone(), config.schema);
        let sender = send::Sender::start(config)?;
        Ok(RemoteWriteOutput { series, sender, started_at_ms: ctx.started_at_ms, url, testid, schema })
    }
}

impl Output for RemoteWriteOutput {
    fn interval(&mut self, _start: Duration, end: Duration, snapshot: &Snapshot) -> std::io::Result<()> {
        self.series.absorb(snapshot);
        let timestamp = (self.started_at_ms + end.as_millis() as u64) as i64;
        let request = self.series.write_request(timestamp);
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&request))
            .map_err(std::io::Error::other)?;
        self.sender.push(body.into(), self.series.len() as u64);
        Ok(())
    }

    fn deliver(&mut self) -> Option<Delivery> {
        let stats = self.sender.finish();
        Some(Delivery {
            output: "prometheus-rw".into(),
            target: self.url.clone(),
            testid: self.testid.clone(),
            schema: self.schema,
            relative_error: relative_error(self.schema),
            batches_sent: stats.batches_sent,
            samples_sent: stats.samples_sent,
            batches_dropped: stats.batches_dropped,
            samples_dropped: stats.samples_dropped,
            failed_attempts: stats.failed_attempts,
            last_error: stats.last_error,
        })
    }

    fn finish(&mut self, _summary: &Summary) -> std::io::Result<()> {
        Ok(())
    }
}
