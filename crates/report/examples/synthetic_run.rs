//! Writes every output kind of a synthetic run (no network, no load) into a
//! folder (and the Prometheus text of its end state in `metrics.prom`): `cargo run -p stampede-report --example synthetic_run -- OUT_DIR [INTERVALS] [RATE]`.
//! Used to try `bench/soak/check_hlog.py` and to look at the HTML report.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "synthetic-run".into()));
    let intervals: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let rate: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    std::fs::create_dir_all(&dir)?;
    let ctx = support::context();
    let mut outputs = Vec::new();
    for (kind, file) in [
        ("summary", "run.json"),
        ("json", "run.ndjson"),
        ("hlog", "run.hlog"),
        ("csv", "run.csv"),
        ("html", "run.html"),
        ("junit", "run.xml"),
    ] {
        outputs.push(stampede_report::outputs::open(kind, &dir.join(file), &ctx)?);
    }
    let (_, live) = support::run(&mut outputs, intervals, rate, 42);
    std::fs::write(dir.join("metrics.prom"), stampede_report::prometheus_text(&live))?;
    println!("wrote run.json, run.ndjson, run.hlog, run.csv, run.html, run.xml and metrics.prom to {}", dir.display());
    Ok(())
}
