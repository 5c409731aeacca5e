//! The run cut into consecutive blocks of time, each with its own
//! histograms and counts: what `stampede compare` needs to tell a real change
//! from noise (the variation between blocks of one run is its measure of
//! noise, see `docs/compare.md`).
//!
//! [`BlockRecorder`] folds each merged interval into the current block; a
//! block holds a whole number of intervals, and when the run reaches
//! [`MAX_BLOCKS`] blocks, neighbours are merged pairwise and blocks become
//! twice as long, so a run of any length keeps between 32 and 64 blocks
//! (fewer when it is shorter than 32 intervals): enough batches for the
//! statistics, few enough histograms to read two one-hour runs in well
//! under a second. The JSON summary carries
//! them as [`Histograms`] (`histograms`, `docs/json-summary.md`): HDR
//! histograms in HdrHistogram's V2 + DEFLATE encoding, base64.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use stampede_metrics::hist::{self, Histogram};
use stampede_metrics::{MetricValue, Snapshot};

/// Blocks kept before neighbours are merged.
pub const MAX_BLOCKS: usize = 64;

/// The series compared: their metric and tags.
pub type SeriesKey = (String, BTreeMap<String, String>);

/// Per-block histograms and counts of a run (`histograms` in the JSON summary).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Histograms {
    /// The nominal length of a block, seconds (a whole number of intervals).
    pub block_s: f64,
    /// The end of each block, seconds from the start (the last block may be
    /// shorter or longer than `block_s`: it holds the run's end).
    pub ends_s: Vec<f64>,
    pub series: Vec<BlockSeries>,
}

/// One series, block by block.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BlockSeries {
    pub metric: String,
    /// `name` for a request name, `scenario` for a scenario's trends; none
    /// for every request of the run or a custom metric over all its series.
    pub tags: BTreeMap<String, String>,
    /// Whether the values are times: microseconds in the histograms (shown
    /// as ms). Otherwise thousandths of the metric's unit.
    pub time: bool,
    /// Per block: HdrHistogram V2 + DEFLATE, base64; `""` for a block
    /// without a sample.
    pub hdr: Vec<String>,
    /// Per block, request series only: requests (responses and transport
    /// failures), and of them the failed ones (as `http_req_failed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<u64>,
}

impl BlockSeries {
    /// The block histograms, decoded (an empty one for `""`).
    pub fn decode(&self) -> Result<Vec<Histogram>, String> {
        self.hdr
            .iter()
            .enumerate()
            .map(|(i, b64)| {
                if b64.is_empty() {
                    return Ok(hist::new_histogram());
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("block {i}: not base64: {e}"))?;
                hist::decode(&bytes).map_err(|e| format!("block {i}: not an HDR histogram: {e}"))
            })
            .collect()
    }

    /// `metric{k:v,…}`, as selectors are written.
    pub fn label(&self) -> String {
        label(&self.metric, &self.tags)
    }
}

pub use stampede_scenario::budget::label;

/// A series while the run goes on.
struct Acc {
    time: bool,
    requests_kind: bool,
    current: Histogram,
    current_requests: u64,
    current_failed: u64,
    /// Finished blocks, encoded (empty: no sample).
    blocks: Vec<Vec<u8>>,
    requests: Vec<u64>,
    failed: Vec<u64>,
}

/// Folds merged intervals into blocks (see the module docs).
pub struct BlockRecorder {
    interval: Duration,
    /// Intervals per block.
    per_block: u32,
    /// Intervals and time in the current block.
    in_block: u32,
    block_time: Duration,
    ends: Vec<f64>,
    /// The end of the latest interval.
    end: Duration,
    series: BTreeMap<SeriesKey, Acc>,
}

impl BlockRecorder {
    pub fn new(interval: Duration) -> BlockRecorder {
        BlockRecorder {
            interval: interval.max(Duration::from_millis(1)),
            per_block: 1,
            in_block: 0,
            block_time: Duration::ZERO,
            ends: Vec::new(),
            end: Duration::ZERO,
            series: BTreeMap::new(),
        }
    }

    /// One merged interval, `start..end` from the start of the run.
    pub fn interval(&mut self, start: Duration, end: Duration, snap: &Snapshot) {
        let done = self.ends.len();
        let mut add = |key: SeriesKey, time: bool, requests: Option<(u64, u64)>, h: &Histogram| {
            let acc = self.series.entry(key).or_insert_with(|| Acc {
                time,
                requests_kind: requests.is_some(),
                current: hist::new_histogram(),
                current_requests: 0,
                current_failed: 0,
                // A series first seen now had nothing in the blocks before.
                blocks: vec![Vec::new(); done],
                requests: if requests.is_some() { vec![0; done] } else { Vec::new() },
                failed: if requests.is_some() { vec![0; done] } else { Vec::new() },
            });
            hist::merge(&mut acc.current, h);
            if let Some((n, f)) = requests {
                acc.current_requests += n;
                acc.current_failed += f;
            }
        };
        let tags = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        if !snap.requests.is_empty() {
            let all = snap.all_requests();
            add(("http_req_duration".into(), BTreeMap::new()), true, Some((all.count(), all.failed())), all.duration());
            for name in snap.request_names() {
                let r = snap.by_name(&name);
                add(
                    ("http_req_duration".into(), tags("name", &name)),
                    true,
                    Some((r.count(), r.failed())),
                    r.duration(),
                );
            }
        }
        for (scenario, s) in &snap.scenarios {
            if !s.iteration_duration.is_empty() {
                add(("iteration_duration".into(), tags("scenario", scenario)), true, None, &s.iteration_duration);
            }
            if !s.intended_latency.is_empty() {
                add(("intended_latency".into(), tags("scenario", scenario)), true, None, &s.intended_latency);
            }
        }
        let mut custom: BTreeMap<&str, (bool, Histogram)> = BTreeMap::new();
        for (k, m) in &snap.metrics {
            if let MetricValue::Trend { hist: h, time, .. } = &m.value {
                let e = custom.entry(&*k.metric).or_insert_with(|| (*time, hist::new_histogram()));
                hist::merge(&mut e.1, h);
            }
        }
        for (metric, (time, h)) in custom {
            add((metric.to_string(), BTreeMap::new()), time, None, &h);
        }

        self.in_block += 1;
        self.block_time += end.saturating_sub(start);
        self.end = end;
        // A short interval (the run's last) never closes a block by itself.
        if self.in_block >= self.per_block && self.block_time * 2 >= self.interval * self.per_block {
            self.close_block(end);
            if self.ends.len() >= MAX_BLOCKS {
                self.coarsen();
            }
        }
    }

    fn close_block(&mut self, end: Duration) {
        for acc in self.series.values_mut() {
            acc.blocks.push(if acc.current.is_empty() { Vec::new() } else { hist::encode(&acc.current) });
            acc.current.reset();
            if acc.requests_kind {
                acc.requests.push(std::mem::take(&mut acc.current_requests));
                acc.failed.push(std::mem::take(&mut acc.current_failed));
            }
        }
        self.ends.push(end.as_secs_f64());
        self.in_block = 0;
        self.block_time = Duration::ZERO;
    }

    /// Merges blocks pairwise: half as many, twice as long.
    fn coarsen(&mut self) {
        for acc in self.series.values_mut() {
            acc.blocks = acc.blocks.chunks(2).map(merge_encoded).collect();
            acc.requests = acc.requests.chunks(2).map(|c| c.iter().sum()).collect();
            acc.failed = acc.failed.chunks(2).map(|c| c.iter().sum()).collect();
        }
        self.ends = self.ends.chunks(2).map(|c| c[c.len() - 1]).collect();
        self.per_block *= 2;
    }

    /// The blocks, the current one included: on its own when it is at least
    /// half a block long, otherwise folded into the one before it (a few
    /// milliseconds at the run's end would be a block of almost nothing).
    pub fn finish(&self) -> Histograms {
        let end = self.end;
        let nominal = self.interval * self.per_block;
        let partial = self.in_block > 0 || self.series.values().any(|a| !a.current.is_empty());
        let fold = partial && !self.ends.is_empty() && self.block_time * 2 < nominal;
        let mut ends = self.ends.clone();
        if partial {
            if fold {
                if let Some(last) = ends.last_mut() {
                    *last = end.as_secs_f64().max(*last);
                }
            } else {
                ends.push(end.as_secs_f64());
            }
        }
        let series = self
            .series
            .iter()
            .map(|((metric, tags), acc)| {
                let mut blocks = acc.blocks.clone();
                let mut requests = acc.requests.clone();
                let mut failed = acc.failed.clone();
                if partial {
                    let current = if acc.current.is_empty() { Vec::new() } else { hist::encode(&acc.current) };
                    match (fold, blocks.last_mut()) {
                        (true, Some(last)) => {
                            *last = merge_encoded(&[std::mem::take(last), current]);
                            if acc.requests_kind {
                                *requests.last_mut().unwrap_or(&mut 0) += acc.current_requests;
                                *failed.last_mut().unwrap_or(&mut 0) += acc.current_failed;
                            }
                        }
                        _ => {
                            blocks.push(current);
                            if acc.requests_kind {
                                requests.push(acc.current_requests);
                                failed.push(acc.current_failed);
                            }
                        }
                    }
                }
                let b64 = base64::engine::general_purpose::STANDARD;
                BlockSeries {
                    metric: metric.clone(),
                    tags: tags.clone(),
                    time: acc.time,
                    hdr: blocks.iter().map(|b| if b.is_empty() { String::new() } else { b64.encode(b) }).collect(),
                    requests,
                    failed,
                }
            })
            .collect();
        Histograms { block_s: nominal.as_secs_f64(), ends_s: ends, series }
    }
}

/// Encoded histograms merged and encoded again (empty stays empty).
fn merge_encoded(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut h = hist::new_histogram();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        // Encoded here, so always decodable.
        if let Ok(x) = hist::decode(p) {
            hist::merge(&mut h, &x);
        }
    }
    if h.is_empty() { Vec::new() } else { hist::encode(&h) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::{Method, RequestKey, RequestStats};
    use std::sync::Arc;

    fn snap(name: &str, micros: &[u64], failed: u64) -> Snapshot {
        let mut s = Snapshot::default();
        let mut r = RequestStats::default();
        for &us in micros {
            hist::record(&mut r.trends[0], us);
        }
        r.counters[0] = micros.len() as u64;
        r.counters[1] = failed;
        s.requests.insert(RequestKey::plain(Arc::from("sc"), Arc::from(name), Method::Get, 200), r);
        s
    }

    #[test]
    fn blocks_stay_between_32_and_64_and_keep_every_sample() {
        let mut rec = BlockRecorder::new(Duration::from_secs(1));
        for i in 0..1000u64 {
            let t = Duration::from_secs(i);
            rec.interval(t, t + Duration::from_secs(1), &snap("home", &[1000 + i, 2000 + i], 1));
        }
        let h = rec.finish();
        assert!((32..=64).contains(&h.ends_s.len()), "{} blocks", h.ends_s.len());
        assert_eq!(h.block_s, 16.0);
        assert_eq!(*h.ends_s.last().unwrap(), 1000.0);
        let home = h.series.iter().find(|s| s.tags.get("name").map(String::as_str) == Some("home")).unwrap();
        assert_eq!(home.requests.iter().sum::<u64>(), 2000);
        assert_eq!(home.failed.iter().sum::<u64>(), 1000);
        let total: u64 = home.decode().unwrap().iter().map(|h| h.len()).sum();
        assert_eq!(total, 2000);
        assert_eq!(home.hdr.len(), h.ends_s.len());
    }

    #[test]
    fn a_short_tail_folds_into_the_last_block_and_late_series_are_padded() {
        let mut rec = BlockRecorder::new(Duration::from_secs(1));
        rec.interval(Duration::ZERO, Duration::from_secs(1), &snap("a", &[100], 0));
        rec.interval(Duration::from_secs(1), Duration::from_secs(2), &snap("b", &[200], 0));
        rec.interval(Duration::from_secs(2), Duration::from_millis(2010), &snap("b", &[300], 0));
        let h = rec.finish();
        assert_eq!(h.ends_s, vec![1.0, 2.01]);
        let b = h.series.iter().find(|s| s.tags.get("name").map(String::as_str) == Some("b")).unwrap();
        assert_eq!(b.hdr[0], "");
        assert_eq!(b.requests, vec![0, 2]);
        assert_eq!(b.decode().unwrap()[1].len(), 2);
    }
}
