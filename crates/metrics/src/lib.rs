//! stampede-metrics: what a run measures, and how measurements merge.
//!
//! Owns the HDR histogram type, worker-local shards the hot path records into,
//! name-keyed snapshots that merge exactly (histogram addition, never averaged
//! percentiles), k6-style queries over them and threshold evaluation. It does
//! not run load (the engine does) and does not render reports.
//!
//! # Layout
//! - [`hist`]: the histogram type (µs, 3 significant digits, auto-resizing) and
//!   its V2 + DEFLATE encoding.
//! - [`kinds`]: error kinds and CDN outcomes, the closed sets the hot path counts by.
//! - [`shard`]: per-worker, per-interval recording keyed by numeric ids.
//! - [`custom`]: custom metric series (k6's four kinds) in thousandths of
//!   their unit, and how they merge (gauges by time).
//! - [`names`]: request, check, group and tag names a script gives at run
//!   time, interned per worker after the plan's.
//! - [`snapshot`]: name-keyed measurements, exact merge, selector queries.
//! - [`summary`]: trend statistics in ms and threshold outcomes.
//! - [`live`]: the live state of a run that the UI, the Prometheus endpoint
//!   and report writers read.

pub mod custom;
pub mod hist;
pub mod kinds;
pub mod live;
pub mod names;
pub mod shard;
pub mod snapshot;
pub mod summary;

pub use custom::{MetricId, MetricKey, MetricStats, MetricValue, TrendExact};
pub use hist::Histogram;
pub use kinds::{CacheOutcome, ErrorKind};
pub use names::{NameKind, RunNames};
pub use shard::{
    Layout, Method, RequestCounter, RequestId, RequestSample, RequestStats, RequestTrend, ScenarioStats, Shard, Timings,
};
pub use snapshot::{GroupKey, RequestKey, Snapshot, Value};
/// The declaration of a custom metric, as `Layout::metrics` holds it.
pub use stampede_scenario::threshold::{CustomMetric, MetricKind};
pub use summary::{ThresholdOutcome, TrendStats, TrendView};
