//! Seeded fuzzing of what a peer can send: random and mutated bytes decoded
//! as `AgentMessage` / `Snapshot`, then fed through the conversions, the
//! merge and the histogram decoders. Errors are fine; a panic is a defect
//! (a hostile or broken agent must not bring the coordinator down).
//!
//! Budget: 20,000 cases by default (a few seconds in CI, in debug builds
//! where arithmetic overflow panics). `STAMPEDE_FUZZ_CASES=N` runs more,
//! `STAMPEDE_FUZZ_SEED=S` another sequence; a failure prints the seed and the
//! case number, which reproduce it.

use std::sync::Arc;

use prost::Message as _;
use stampede_metrics::{
    CacheOutcome, Layout, Method, MetricId, RequestId, RequestSample, Shard, Snapshot, Timings, hist,
};
use stampede_proto::convert::{Interner, check_wire, from_wire, merge_wire_into, merge_wires_into, to_wire};
use stampede_proto::v1;
use stampede_scenario::threshold::{CustomMetric, Metric, MetricKind};

const DEFAULT_CASES: u64 = 20_000;

/// xorshift64*: deterministic, no dependency, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    /// `min + below(spread)` random bytes.
    fn bytes(&mut self, min: u64, spread: u64) -> Vec<u8> {
        let n = min + self.below(spread);
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// A counter: mostly small, sometimes at the edges (the merge's bound
    /// is 2^40, allowed; one more is refused).
    fn counter(&mut self) -> u64 {
        match self.below(32) {
            0 => 0,
            1 => u64::MAX - self.below(3),
            2 => 1 << 40,
            3 => (1 << 40) + 1,
            _ => self.below(10_000),
        }
    }
}

/// The custom metrics the fuzzed run's plan declares: one of each kind
/// (`x`, which peers also name, is not declared).
fn declared() -> Vec<Arc<CustomMetric>> {
    [("c", MetricKind::Counter), ("g", MetricKind::Gauge), ("r", MetricKind::Rate), ("t", MetricKind::Trend)]
        .into_iter()
        .map(|(name, kind)| Arc::new(CustomMetric { name: name.into(), kind, time: kind == MetricKind::Trend }))
        .collect()
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A realistic snapshot, as an agent sends it.
fn realistic(rng: &mut Rng) -> v1::Snapshot {
    let layout = Arc::new(Layout {
        scenarios: vec!["s".into(), "t".into()],
        request_names: vec!["a".into(), "b".into()],
        check_names: vec!["c".into()],
        groups: vec!["".into()],
        tag_sets: vec![std::sync::Arc::from(Vec::new())],
        metrics: declared(),
    });
    let mut shard = Shard::new(layout);
    for _ in 0..rng.below(100) {
        let id = MetricId { metric: rng.below(4) as u16, scenario: rng.below(2) as u16, name: 0, group: 0, tags: 0 };
        let value = (rng.below(8) != 0).then(|| rng.below(1_000_000) as f64 / 7.0 - 1000.0);
        shard.record_metric(id, value, rng.below(1 << 30));
    }
    for _ in 0..rng.below(300) {
        let us = 1 + rng.below(5_000_000);
        let sample = RequestSample {
            timings: Timings { waiting: us, connecting: us / 7, ..Default::default() },
            bytes_sent: 10,
            bytes_received: rng.below(5000),
            body_bytes: 5,
            error: None,
            cache: if rng.below(2) == 0 { CacheOutcome::Hit } else { CacheOutcome::Miss },
        };
        let id = RequestId {
            scenario: rng.below(2) as u16,
            name: rng.below(2) as u32,
            method: Method::Get,
            status: [200, 404, 503][rng.below(3) as usize],
            group: 0,
            tags: 0,
        };
        shard.request(id).record(&sample);
    }
    to_wire(rng.below(100), false, &shard.into_snapshot())
}

/// Uncompressed V2 histogram payloads: the header fields at and beyond their
/// limits, and counts (zig-zag LEB128, negative runs skip buckets) that run
/// far past the last bucket.
fn raw_v2(rng: &mut Rng) -> Vec<u8> {
    let mut counts = Vec::new();
    for _ in 0..rng.below(40) {
        let v: u64 = match rng.below(4) {
            0 => rng.next(),
            1 => rng.below(300),
            2 => (rng.below(1 << 20) << 1) | 1, // a negative run: skip buckets
            _ => u64::MAX,
        };
        let mut v = v;
        for _ in 0..8 {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                counts.push(b);
                break;
            }
            counts.push(b | 0x80);
        }
        if v != 0 {
            counts.push(v as u8);
        }
    }
    let mut b = Vec::new();
    b.extend_from_slice(&(0x1c84_9303u32 | 0x10).to_be_bytes());
    let len = if rng.below(4) == 0 { rng.next() as u32 } else { counts.len() as u32 };
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&(if rng.below(8) == 0 { rng.next() as u32 } else { 0 }).to_be_bytes());
    b.extend_from_slice(&(if rng.below(4) == 0 { rng.below(8) as u32 } else { 3 }).to_be_bytes());
    b.extend_from_slice(&(if rng.below(4) == 0 { rng.next() } else { 1 }).to_be_bytes());
    b.extend_from_slice(&(if rng.below(2) == 0 { rng.next() } else { 2048 }).to_be_bytes());
    b.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
    b.extend_from_slice(&counts);
    b
}

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(8) {
        if b.is_empty() {
            b = rng.bytes(1, 64);
        }
        let at = rng.below(b.len() as u64) as usize;
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => b.truncate(at),
            3 => {
                let extra = rng.bytes(1, 16);
                b.splice(at..at, extra);
            }
            4 => {
                // Repeat a piece: duplicated fields and series.
                let end = (at + 1 + rng.below(64) as usize).min(b.len());
                let piece = b[at..end].to_vec();
                b.splice(at..at, piece);
            }
            _ => b[at] = [0, 0x7f, 0x80, 0xff][rng.below(4) as usize],
        }
    }
    b
}

/// A histogram field: mostly empty or valid (so that whole snapshots get
/// through to the merge), else mutated, raw V2, or noise.
fn hist_field(rng: &mut Rng, valid: &[u8]) -> prost::bytes::Bytes {
    let v: Vec<u8> = match rng.below(24) {
        0..=9 => Vec::new(),
        10..=20 => valid.to_vec(),
        21 => mutate(rng, valid.to_vec()),
        22 => raw_v2(rng),
        _ => rng.bytes(0, 64),
    };
    v.into()
}

/// A structurally valid snapshot with hostile values in every field.
fn hostile(rng: &mut Rng, valid_hist: &[u8]) -> v1::Snapshot {
    let mut w = v1::Snapshot { index: rng.counter(), r#final: rng.below(8) == 0, ..Default::default() };
    for _ in 0..rng.below(4) {
        w.requests.push(v1::RequestSeries {
            scenario: ["s", "", "t"][rng.below(3) as usize].into(),
            name: "a".into(),
            method: ["GET", "BREW", ""][rng.below(3) as usize].into(),
            status: [200, 0, u32::MAX][rng.below(3) as usize],
            // Fewer, as many, or more trends and counters than this build knows.
            trends: (0..rng.below(12)).map(|_| hist_field(rng, valid_hist)).collect(),
            counters: (0..rng.below(14)).map(|_| rng.counter()).collect(),
            // Fewer, as many, or more error kinds than this build knows.
            errors: (0..rng.below(40)).map(|_| rng.counter()).collect(),
            group: ["", "::g", "::g::h"][rng.below(3) as usize].into(),
            // Unsorted and repeated keys: the receiver sorts and dedups.
            tags: (0..rng.below(3))
                .map(|_| v1::Tag { key: ["b", "a"][rng.below(2) as usize].into(), value: "v".into() })
                .collect(),
        });
    }
    for _ in 0..rng.below(3) {
        w.scenarios.push(v1::ScenarioSeries {
            name: "s".into(),
            iterations: rng.counter(),
            iteration_duration: hist_field(rng, valid_hist),
            dropped_iterations: rng.counter(),
            interrupted_iterations: rng.counter(),
            intended_latency: hist_field(rng, valid_hist),
            scheduling_lag: hist_field(rng, valid_hist),
            vus: rng.counter(),
            vus_max: rng.counter(),
        });
    }
    for _ in 0..rng.below(3) {
        w.checks.push(v1::CheckSeries {
            scenario: "s".into(),
            check: "c".into(),
            passes: rng.counter(),
            fails: rng.counter(),
            group: ["", "::g"][rng.below(2) as usize].into(),
            tags: if rng.below(2) == 0 {
                Vec::new()
            } else {
                vec![v1::Tag { key: "area".into(), value: "account".into() }]
            },
        });
    }
    for _ in 0..rng.below(4) {
        use v1::metric_series::Value as W;
        let mut signed = || match rng.below(6) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => -(rng.below(1 << 50) as i64),
            _ => rng.below(100_000) as i64,
        };
        let (a, b, c) = (signed(), signed(), signed());
        let value = match rng.below(5) {
            0 => None,
            1 => Some(W::Counter(rng.counter())),
            2 => Some(W::Gauge(v1::GaugeValue { last: a, at_us: rng.counter(), min: b.min(c), max: b.max(c) })),
            3 => Some(W::Rate(v1::RateValue { trues: rng.counter(), total: rng.counter() })),
            _ => Some(W::Trend(hist_field(rng, valid_hist))),
        };
        let trend_exact = match rng.below(3) {
            0 => None,
            _ => {
                let (lo, hi) = (rng.counter(), rng.counter());
                Some(v1::TrendExact {
                    min: lo.min(hi),
                    max: lo.max(hi),
                    sum_low: rng.counter(),
                    sum_high: rng.below(3),
                })
            }
        };
        w.metrics.push(v1::MetricSeries {
            // Mostly declared names, of any kind's value; sometimes an unknown one.
            metric: ["c", "g", "r", "t", "x"][rng.below(5) as usize].into(),
            scenario: "s".into(),
            name: ["a", ""][rng.below(2) as usize].into(),
            group: "".into(),
            tags: Vec::new(),
            skipped: rng.counter(),
            value,
            trend_exact,
        });
    }
    w
}

/// What the coordinator does with a snapshot: merge it into an interval,
/// decode it alone, read its lag histograms as the live view does, and add
/// the interval to the run's totals. Whether the merge took it.
fn consume(w: &v1::Snapshot, names: &mut Interner) -> bool {
    let mut interval = Snapshot::default();
    let merge = merge_wire_into(w, &mut interval, names);
    let merged = merge.is_ok();
    // The coordinator checks each snapshot as it arrives and merges an
    // interval's later, several agents at once: what passed must merge.
    let checked = check_wire(w, names).is_ok();
    assert_eq!(checked, merged, "check_wire and the merge disagree ({:?}) on {w:?}", merge.err());
    if checked {
        let mut three = Snapshot::default();
        merge_wires_into(&[w, w, w], &mut three, names).expect("a checked snapshot merges");
        assert_eq!(three.total_requests(), interval.total_requests().saturating_mul(3));
    }
    let _ = from_wire(w, names);
    for sc in &w.scenarios {
        if let Ok(h) = hist::decode(&sc.scheduling_lag) {
            let _ = h.value_at_quantile(0.99);
        }
    }
    for r in &w.requests {
        for t in &r.trends {
            let _ = hist::decode(t);
        }
    }
    let mut total = Snapshot::default();
    total.accumulate(&interval);
    total.accumulate(&interval);
    let _ = total.total_requests();
    // As thresholds and summaries read custom metrics.
    for m in declared() {
        let _ = total.query(&Metric::Custom(m), &[("name".into(), "a".into())]);
    }
    merged
}

#[test]
fn nothing_a_peer_sends_makes_decoding_or_merging_panic() {
    let cases = env("STAMPEDE_FUZZ_CASES", DEFAULT_CASES);
    let seed = env("STAMPEDE_FUZZ_SEED", 0x5eed_57a3_9ede);
    let mut rng = Rng(seed | 1);
    let valid_hist = {
        let mut h = hist::new_histogram();
        for v in [3, 70, 900, 12_000, 450_000, 60_000_000] {
            hist::record(&mut h, v);
        }
        hist::encode(&h)
    };
    // Realistic agent messages to mutate: built once (recording and encoding
    // them costs more than everything a case does with them).
    let realistic: Vec<Vec<u8>> = (0..16)
        .map(|_| v1::AgentMessage { msg: Some(v1::agent_message::Msg::Snapshot(realistic(&mut rng))) }.encode_to_vec())
        .collect();
    let mut names = Interner::default();
    names.declare_metrics(&declared());
    let (mut decoded, mut merged_ok) = (0u64, 0u64);
    for case in 0..cases {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let bytes = match case % 4 {
                0 => rng.bytes(0, 512),
                1 => {
                    let m = realistic[rng.below(realistic.len() as u64) as usize].clone();
                    mutate(&mut rng, m)
                }
                2 => hostile(&mut rng, &valid_hist).encode_to_vec(),
                _ => {
                    let w = hostile(&mut rng, &valid_hist);
                    mutate(&mut rng, w.encode_to_vec())
                }
            };
            if let Ok(m) = v1::AgentMessage::decode(&bytes[..]) {
                decoded += 1;
                if let Some(v1::agent_message::Msg::Snapshot(w)) = m.msg
                    && consume(&w, &mut names)
                {
                    merged_ok += 1;
                }
            }
            if let Ok(w) = v1::Snapshot::decode(&bytes[..]) {
                decoded += 1;
                if consume(&w, &mut names) {
                    merged_ok += 1;
                }
            }
        }));
        assert!(result.is_ok(), "case {case} of seed {seed:#x} panicked (STAMPEDE_FUZZ_SEED={seed} reproduces it)");
    }
    // The generators must reach the merge, not only the decoder's errors.
    assert!(decoded > cases / 8, "only {decoded} of {cases} inputs decoded");
    assert!(merged_ok > cases / 100, "only {merged_ok} of {cases} snapshots merged");
    eprintln!("{cases} cases (seed {seed:#x}): {decoded} decoded, {merged_ok} merged");
}
