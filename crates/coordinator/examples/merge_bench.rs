//! Benchmark: the coordinator's per-interval work for 16 agents × 200 series.
//!
//!     cargo run --release -p stampede-coordinator --example merge_bench
//!     AGENTS=100 NAMES=125 SAMPLES=40 cargo run --release -p stampede-coordinator --example merge_bench
//!     RECORDED=run.hlog AGENTS=100 NAMES=125 cargo run --release -p stampede-coordinator --example merge_bench
//!
//! (series = NAMES × 4 statuses; SAMPLES per series per agent per interval,
//! or with `RECORDED` a real run's per-name histograms from `--out hlog`.)
//! `bench/coordinator.sh` runs it at both sizes, synthetic and recorded.
//!
//! Each interval, every agent's snapshot arrives as protobuf bytes (HDR
//! histograms V2). The coordinator decodes them and merges the interval
//! series by series. Reported: CPU per interval (median over rounds), split
//! into decode and merge, beside the same merged agent by agent as each
//! arrives (the previous coordinator), the version before that, and
//! in-memory merging (no wire). `MERGE_ONLY=1` prints one line;
//! `MALLOC_DEFAULTS=1` leaves glibc's trimming on.

use std::time::{Duration, Instant};

use prost::Message;
use stampede_metrics::Snapshot;
use stampede_proto::convert::{Interner, check_wire, from_wire, merge_wire_into, merge_wires_into, to_wire};

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{agent_interval, env_or};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let (agents, names, samples) = (env_or("AGENTS", 16), env_or("NAMES", 50), env_or("SAMPLES", 400));
    let rounds = env_or("ROUNDS", 15);
    // As a coordinator process does (MALLOC_DEFAULTS=1: glibc's own).
    if std::env::var_os("MALLOC_DEFAULTS").is_none() {
        stampede_coordinator::keep_freed_memory();
    }
    // At most 8 distinct agents, repeated: 100 agents x 500 series held in
    // memory at once would take tens of GB.
    let distinct = agents.clamp(1, 8);
    let snapshots: Vec<Snapshot> = (0..distinct as u64).map(|a| agent_interval(a, names, samples)).collect();
    let series = snapshots[0].requests.len();
    let encoded: Vec<Vec<u8>> = snapshots.iter().map(|s| to_wire(7, false, s).encode_to_vec()).collect();
    // As tonic hands them over: views of the stream's buffer.
    let wire: Vec<bytes::Bytes> = (0..agents).map(|a| bytes::Bytes::from(encoded[a % distinct].clone())).collect();
    let bytes: usize = wire.iter().map(bytes::Bytes::len).sum();

    let (mut decode_t, mut merge_t, mut reference_t, mut naive_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut by_agent_t = Vec::new();
    let mut names = Interner::default();
    for _ in 0..rounds {
        // The coordinator's path: protobuf decode, then histograms decoded
        // straight into the interval's merged snapshot.
        // As each arrives: protobuf decode, and the check (counters,
        // metrics, every histogram well-formed) that decides whether the
        // agent is still trusted.
        let t = Instant::now();
        let messages: Vec<stampede_proto::v1::Snapshot> =
            wire.iter().map(|b| stampede_proto::v1::Snapshot::decode(b.clone()).unwrap()).collect();
        for m in &messages {
            check_wire(m, &names).unwrap();
        }
        decode_t.push(t.elapsed());
        let t = Instant::now();
        let mut merged = Snapshot::default();
        let all: Vec<&stampede_proto::v1::Snapshot> = messages.iter().collect();
        merge_wires_into(&all, &mut merged, &mut names).unwrap();
        merge_t.push(t.elapsed());
        // The previous coordinator: each agent's snapshot added as it came.
        if std::env::var_os("SERIES_ONLY").is_some() {
            continue;
        }
        let t = Instant::now();
        let mut by_agent = Snapshot::default();
        for m in &messages {
            merge_wire_into(m, &mut by_agent, &mut names).unwrap();
        }
        by_agent_t.push(t.elapsed());
        assert_eq!(by_agent.total_requests(), merged.total_requests());
        drop(by_agent);
        std::hint::black_box(&merged);
        if std::env::var_os("MERGE_ONLY").is_some() {
            continue;
        }
        // Previous version: materialise each agent's histograms, then add them.
        let t = Instant::now();
        let mut naive = Snapshot::default();
        for m in &messages {
            naive.merge(&from_wire(m, &mut names).unwrap());
        }
        naive_t.push(t.elapsed());
        assert_eq!(
            naive.all_requests().duration().value_at_quantile(0.99),
            merged.all_requests().duration().value_at_quantile(0.99)
        );
        // Reference: the same merge from in-memory snapshots (no wire).
        let t = Instant::now();
        let mut reference = Snapshot::default();
        for s in (0..agents).map(|a| &snapshots[a % distinct]) {
            reference.merge(s);
        }
        reference_t.push(t.elapsed());
        assert_eq!(reference.total_requests(), merged.total_requests());
    }
    if std::env::var_os("MERGE_ONLY").is_some() {
        let (d, m, a) = (median(decode_t), median(merge_t), median(by_agent_t));
        println!(
            "{agents} agents × {series} series: decode + check {:.1} ms, merge series by series {:.1} ms, agent by agent {:.1} ms",
            d.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3,
            a.as_secs_f64() * 1e3
        );
        return;
    }
    let (d, m, r, n) = (median(decode_t), median(merge_t), median(reference_t), median(naive_t));
    let a = median(by_agent_t);
    let total = d + m;
    let source = match std::env::var("RECORDED") {
        Ok(path) => format!("snapshots replayed from {path}"),
        Err(_) => format!("{samples} synthetic samples per series per interval"),
    };
    let buckets: usize = snapshots
        .iter()
        .flat_map(|s| s.requests.values())
        .flat_map(|r| r.trends.iter())
        .map(|h| h.iter_recorded().count())
        .sum::<usize>()
        / distinct;
    println!("coordinator merge benchmark: {agents} agents × {series} series, {source}");
    println!("(non-zero buckets per agent snapshot: {buckets}; in all agents' snapshots: {})", buckets * agents);
    println!("| measure | per interval (median of {rounds}) |");
    println!("|---|---|");
    println!("| wire size, all agents | {:.1} KiB |", bytes as f64 / 1024.0);
    println!("| protobuf decode + check on arrival | {:.1} ms |", d.as_secs_f64() * 1e3);
    println!("| histograms added into the merge, series by series (exact) | {:.1} ms |", m.as_secs_f64() * 1e3);
    println!(
        "| total CPU per interval | {:.1} ms ({:.1} % of one core at 1 s intervals) |",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 100.0
    );
    println!(
        "| reference: the same added agent by agent, as each arrives (the previous coordinator) | {:.1} ms ({:.1} × the series-by-series merge) |",
        a.as_secs_f64() * 1e3,
        a.as_secs_f64() / m.as_secs_f64()
    );
    println!(
        "| reference: decode whole histograms, then add (the version before) | {:.1} ms ({:.1} × slower) |",
        n.as_secs_f64() * 1e3,
        n.as_secs_f64() / total.as_secs_f64()
    );
    println!("| reference: in-memory merge of the same snapshots, no wire | {:.1} ms |", r.as_secs_f64() * 1e3);
}
