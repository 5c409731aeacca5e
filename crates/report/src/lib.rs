//! stampede-report: what a run leaves behind for people and machines, and
//! what it shows to monitoring while it goes on.
//!
//! Owns the end-of-test summary (one structure, rendered as text for the
//! terminal and written as JSON), the `--out KIND=PATH` writers (summary,
//! k6's NDJSON stream, HDR interval log, CSV, HTML, JUnit) and k6's summary
//! export, re-rendering reports from a saved JSON summary, and the
//! Prometheus exposition of the live run state. It reads
//! merged snapshots and the live state; it never touches the load path, and
//! it does not decide anything about a run (thresholds are evaluated by
//! `stampede-metrics`).
//!
//! # Layout
//! - [`blocks`]: the run cut into blocks of time with their own histograms
//!   (the `histograms` of the JSON summary), for `stampede compare`.
//! - [`compare`]: `stampede compare`, two runs' distributions side by side
//!   with a verdict per series (`docs/compare.md`).
//! - [`summary`]: the summary document (`stampede.summary/v1`,
//!   `docs/json-summary.md`): built from the merged run, written as JSON, read
//!   back; the text, HTML and JUnit renderings all come from it.
//! - [`text`]: the terminal rendering, in the spirit of k6's, and shared formatting.
//! - [`outputs`]: the [`Output`](outputs::Output) trait, `--out` kinds, the
//!   summary writer and [`rerender`].
//! - [`hlog`]: HdrHistogram interval log writer (streamed).
//! - [`csvlog`]: CSV time series writer (streamed).
//! - [`k6json`]: k6's NDJSON `Metric`/`Point` stream, one point per interval
//!   and series (streamed).
//! - [`summary_export`]: k6's `--summary-export` document.
//! - [`html`] and [`svg`]: the self-contained HTML report and its charts.
//! - [`junit`]: JUnit XML of thresholds and checks.
//! - [`markup`]: escaping shared by the XML, HTML and SVG writers.
//! - [`prometheus`]: `/metrics` text and its HTTP server.
//! - [`remote_write`]: `prometheus-rw=URL`, the run pushed to Prometheus as
//!   it goes (native histograms), with its own sender thread and bounded queue.

pub mod blocks;
pub mod compare;
pub mod csvlog;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod k6json;
pub mod markup;
pub mod outputs;
pub mod prometheus;
pub mod remote_write;
pub mod summary;
pub mod summary_export;
pub mod svg;
pub mod text;

pub use outputs::rerender;
pub use prometheus::{prometheus_text, serve_metrics};
pub use summary::{RunInfo, Summary};
