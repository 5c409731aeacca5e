//! Benchmark: the coordinator's per-interval work for 16 agents × 200 series.
//!
//!     cargo run --release -p stampede-coordinator --example merge_bench
//!     AGENTS=100 NAMES=125 SAMPLES=40 cargo run --release -p stampede-coordinator --example merge_bench
//!
//! (series = NAMES × 4 statuses; SAMPLES per series per agent per interval.)
//!
//! Each interval, every agent's snapshot arrives as protobuf bytes (HDR
//! histograms V2 + DEFLATE). The coordinator decodes and merges all of them.
//! Reported: CPU per interval (median over rounds), split into decode and
//! merge, with in-memory merging (no wire) as the reference, and the share of
//! one core a 1 s interval costs.

use std::time::{Duration, Instant};

use prost::Message;
use stampede_metrics::Snapshot;
use stampede_proto::convert::{Interner, from_wire, merge_wire_into, to_wire};

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{agent_snapshot, env_or};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let (agents, names, samples) = (env_or("AGENTS", 16), env_or("NAMES", 50), env_or("SAMPLES", 400));
    let rounds = env_or("ROUNDS", 15);
    // At most 8 distinct agents, repeated: 100 agents x 500 series held in
    // memory at once would take tens of GB.
    let distinct = agents.clamp(1, 8);
    let snapshots: Vec<Snapshot> = (0..distinct as u64).map(|a| agent_snapshot(a, names, samples)).collect();
    let series = snapshots[0].requests.len();
    let encoded: Vec<Vec<u8>> = snapshots.iter().map(|s| to_wire(7, false, s).encode_to_vec()).collect();
    let wire: Vec<Vec<u8>> = (0..agents).map(|a| encoded[a % distinct].clone()).collect();
    let bytes: usize = wire.iter().map(Vec::len).sum();

    let (mut decode_t, mut merge_t, mut reference_t, mut naive_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut names = Interner::default();
    for _ in 0..rounds {
        // The coordinator's path: protobuf decode, then histograms decoded
        // straight into the interval's merged snapshot.
        let t = Instant::now();
        let messages: Vec<stampede_proto::v1::Snapshot> =
            wire.iter().map(|b| stampede_proto::v1::Snapshot::decode(&b[..]).unwrap()).collect();
        decode_t.push(t.elapsed());
        let t = Instant::now();
        let mut merged = Snapshot::default();
        for m in &messages {
            merge_wire_into(m, &mut merged, &mut names).unwrap();
        }
        merge_t.push(t.elapsed());
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
        let (d, m) = (median(decode_t), median(merge_t));
        println!(
            "{agents} agents × {series} series: decode {:.1} ms, merge {:.1} ms",
            d.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3
        );
        return;
    }
    let (d, m, r, n) = (median(decode_t), median(merge_t), median(reference_t), median(naive_t));
    let total = d + m;
    println!(
        "coordinator merge benchmark: {agents} agents × {series} series, {samples} samples per series per interval"
    );
    println!("| measure | per interval (median of {rounds}) |");
    println!("|---|---|");
    println!("| wire size, all agents | {:.1} KiB |", bytes as f64 / 1024.0);
    println!("| protobuf decode | {:.1} ms |", d.as_secs_f64() * 1e3);
    println!("| histograms inflated and added into the merge (exact) | {:.1} ms |", m.as_secs_f64() * 1e3);
    println!(
        "| total CPU per interval | {:.1} ms ({:.1} % of one core at 1 s intervals) |",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 100.0
    );
    println!(
        "| reference: previous version (decode whole histograms, then add) | {:.1} ms ({:.1} × slower) |",
        n.as_secs_f64() * 1e3,
        n.as_secs_f64() / total.as_secs_f64()
    );
    println!("| reference: in-memory merge of the same snapshots, no wire | {:.1} ms |", r.as_secs_f64() * 1e3);
}
