//! Writes two synthetic JSON summaries for `stampede compare`'s speed
//! benchmark (`bench/compare.sh`): `cargo run --release -p stampede-report
//! --example compare_inputs -- OUT_DIR [SERIES] [SECONDS] [RATE]`, by default
//! 200 series, a one-hour run (3,600 intervals of 1 s, so 56 blocks of
//! 64 s) and 1,000 requests per second per series. The candidate is 5 %
//! slower above the median. No network, no load.

use std::path::PathBuf;
use std::time::Duration;

use stampede_report::blocks::{BlockRecorder, Histograms};
use stampede_report::summary::{RunInfo, Summary};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "compare-inputs".into()));
    let series: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3600);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    std::fs::create_dir_all(&dir)?;
    for (file, slower) in [("baseline.json", 1.0), ("candidate.json", 1.05)] {
        let h = blocks(series, seconds, rate, slower);
        let run = RunInfo {
            scenario_file: "synthetic.toml".into(),
            started_at_ms: 0,
            duration_s: seconds as f64,
            planned_duration_s: seconds as f64,
            outcome: "completed".into(),
            exit_code: 0,
        };
        let mut summary = Summary::build(run, &Default::default(), Vec::new(), 0);
        summary.histograms = Some(h);
        std::fs::write(dir.join(file), summary.to_json())?;
    }
    println!("wrote baseline.json and candidate.json ({series} series, {seconds} s) to {}", dir.display());
    Ok(())
}

/// The blocks a run of `seconds` intervals would leave, built as the
/// recorder builds them: each series' latencies, lognormal-ish around 2 ms
/// per interval (value × count, not one record per request), through
/// [`BlockRecorder`] with one request series per name.
fn blocks(series: usize, seconds: u64, rate: u64, slower: f64) -> Histograms {
    use stampede_metrics::{Method, RequestKey, RequestStats, Snapshot};
    let mut rec = BlockRecorder::new(Duration::from_secs(1));
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let names: Vec<std::sync::Arc<str>> = (0..series).map(|i| format!("request-{i:03}").into()).collect();
    for t in 0..seconds {
        let mut snap = Snapshot::default();
        for name in &names {
            let mut r = RequestStats::default();
            // 50 distinct values, each `rate / 50` times.
            for _ in 0..50 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
                let z = (u.max(1e-9) / (1.0 - u).max(1e-9)).ln() * 0.35;
                let mut us = 2000.0 * z.exp();
                if us > 2000.0 {
                    us *= slower;
                }
                let _ = r.trends[0].record_n(us as u64, rate / 50);
            }
            r.counters[0] = rate;
            snap.requests.insert(RequestKey::plain("synthetic".into(), name.clone(), Method::Get, 200), r);
        }
        let start = Duration::from_secs(t);
        rec.interval(start, start + Duration::from_secs(1), &snap);
    }
    rec.finish()
}
